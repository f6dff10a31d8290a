"""The staff form for a customer. It parses input; the service decides what is valid."""

from django import forms
from django.utils import timezone
from django_countries import countries

from billing.currencies import CURRENCY_CHOICES
from billing.errors import DomainError
from billing.staff_errors import add_form_errors
from billing.timezones import timezone_options
from customers.document_locales import DOCUMENT_LOCALE_CHOICES
from customers.models import (
    METADATA_KEY_MAX_LENGTH,
    METADATA_MAX_ROWS,
    METADATA_VALUE_MAX_LENGTH,
    CustomerType,
    FinalizeZeroAmountInvoice,
    PaymentProvider,
)
from customers.services import external_id_lock_reason

# The limits the customer sentences name (billing.staff_errors cannot import them).
CUSTOMER_FACTS = {"max_rows": METADATA_MAX_ROWS}


FIELD_ORDER = [
    "name",
    "external_id",
    "firstname",
    "lastname",
    "customer_type",
    "timezone",
    "currency",
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "email",
    "phone",
    "url",
    "address_line1",
    "address_line2",
    "zipcode",
    "city",
    "state",
    "country",
    "net_payment_term",
    "document_locale",
    "finalize_zero_amount_invoice",
    "payment_provider",
    "provider_customer_id",
]
SHIPPING_FIELDS = [
    "shipping_address_line1",
    "shipping_address_line2",
    "shipping_zipcode",
    "shipping_city",
    "shipping_state",
    "shipping_country",
]
# Choice fields whose empty option means NULL.
OPTIONAL_CHOICES = ("currency", "country", "shipping_country", "customer_type", "document_locale", "payment_provider")
# Sent with the shipping fields, so that a form that did not show them never writes them.
SHIPPING_SHOWN = "shipping_address_shown"


def _optional(label: str, **kwargs) -> forms.CharField:
    return forms.CharField(label=label, required=False, empty_value=None, **kwargs)


class CustomerForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    firstname = _optional("First name")
    lastname = _optional("Last name")
    customer_type = forms.ChoiceField(label="Customer type", required=False, choices=[("", "—"), *CustomerType.choices])
    external_id = forms.CharField(
        label="External ID",
        max_length=255,
        strip=False,
        help_text="The unique ID of this customer in your own backend.",
    )
    timezone = _optional(
        "Timezone",
        help_text="Used for billing periods. Empty: the organization's timezone.",
        widget=forms.TextInput(
            attrs={"list": "timezone-options", "autocomplete": "off", "placeholder": "Search a timezone"}
        ),
    )
    currency = forms.ChoiceField(label="Currency", required=False, choices=[("", "—"), *CURRENCY_CHOICES])
    legal_name = _optional("Legal name")
    legal_number = _optional("Legal number")
    tax_identification_number = _optional("Tax ID")
    email = _optional("Email", help_text="Several addresses may be separated by commas.")
    phone = _optional("Phone")
    url = _optional("URL")
    address_line1 = _optional("Address line 1")
    address_line2 = _optional("Address line 2")
    zipcode = _optional("Zip code")
    city = _optional("City")
    state = _optional("State")
    country = forms.ChoiceField(label="Country", required=False, choices=[("", "—"), *countries])
    # The same labels as the billing address: the section's heading tells them apart.
    shipping_address_line1 = _optional("Address line 1")
    shipping_address_line2 = _optional("Address line 2")
    shipping_zipcode = _optional("Zip code")
    shipping_city = _optional("City")
    shipping_state = _optional("State")
    shipping_country = forms.ChoiceField(label="Country", required=False, choices=[("", "—"), *countries])
    net_payment_term = forms.IntegerField(
        label="Net payment term (days)",
        required=False,
        help_text="Days between an invoice's issuing date and its due date. Empty: the organization's term.",
        widget=forms.NumberInput(attrs={"min": 0, "max": 365}),
    )
    document_locale = forms.ChoiceField(
        label="Document language",
        required=False,
        choices=[("", "—"), *DOCUMENT_LOCALE_CHOICES],
        help_text="The language of the customer's invoices (ISO 639-1).",
    )
    finalize_zero_amount_invoice = forms.ChoiceField(
        label="Zero-amount invoices",
        required=False,
        choices=FinalizeZeroAmountInvoice.choices,
        initial=FinalizeZeroAmountInvoice.INHERIT,
        help_text="An invoice whose fees add up to zero: finalized with a number, or closed without one.",
    )
    payment_provider = forms.ChoiceField(
        label="Payment provider", required=False, choices=[("", "None"), *PaymentProvider.choices]
    )
    provider_customer_id = _optional("Provider customer ID")

    def __init__(self, *args, customer=None, shipping_requested: bool = False, **kwargs):
        if customer is not None:
            # "" for NULL, but a 0-day payment term stays 0.
            kwargs["initial"] = {name: _initial(getattr(customer, name)) for name in self.base_fields}
        super().__init__(*args, **kwargs)
        # The shipping address is offered once asked for, or when the customer has one. Until then
        # its fields are not on the page at all, so they can neither be sent nor clear anything.
        if self.is_bound:
            self.shows_shipping_address = SHIPPING_SHOWN in self.data
        else:
            self.shows_shipping_address = shipping_requested or (customer is not None and customer.has_shipping_address)
        if not self.shows_shipping_address:
            for name in SHIPPING_FIELDS:
                del self.fields[name]
        # The service's own predicate: the field is offered locked exactly when a change is refused.
        self.lock_reason = external_id_lock_reason(customer=customer) if customer is not None else None
        if self.lock_reason:
            # Read-only rather than disabled: a changed value still reaches the service, which
            # refuses it, so the form never reports a change it did not make.
            self.fields["external_id"].widget.attrs["readonly"] = True
            self.fields["external_id"].help_text = self.lock_reason
        self.timezone_options = timezone_options(timezone.now())

    def service_data(self) -> dict:
        """The fields the form showed, as the customer services take them."""
        names = FIELD_ORDER + (SHIPPING_FIELDS if self.shows_shipping_address else [])
        data = {name: self.cleaned_data.get(name) for name in names}
        for name in OPTIONAL_CHOICES:
            if name in data:
                data[name] = data[name] or None
        data["finalize_zero_amount_invoice"] = data["finalize_zero_amount_invoice"] or FinalizeZeroAmountInvoice.INHERIT
        return data

    def add_service_errors(self, error: DomainError) -> list[str]:
        """Put the service's refusal next to each field; return the metadata's sentences, for above its rows."""
        metadata = add_form_errors(
            self,
            error,
            resource="customer",
            elsewhere={"metadata"},
            lock_reason=self.lock_reason,
            facts=CUSTOMER_FACTS,
        )
        return [item.text for item in metadata]

    def account_fields(self):
        return [self[name] for name in ("name", "external_id", "timezone", "firstname", "lastname", "customer_type")]

    def company_fields(self):
        return [
            self[name]
            for name in ("currency", "legal_name", "legal_number", "tax_identification_number", "email", "phone", "url")
        ]

    def address_fields(self):
        return [self[name] for name in ("address_line1", "address_line2", "zipcode", "city", "state", "country")]

    def shipping_fields(self):
        return [self[name] for name in SHIPPING_FIELDS] if self.shows_shipping_address else []

    def invoicing_fields(self):
        return [self[name] for name in ("net_payment_term", "document_locale", "finalize_zero_amount_invoice")]

    def provider_fields(self):
        return [self["payment_provider"], self["provider_customer_id"]]


def _initial(value):
    return "" if value is None else value


class MetadataForm(forms.Form):
    id = forms.CharField(required=False, widget=forms.HiddenInput)
    key = forms.CharField(label="Key", max_length=METADATA_KEY_MAX_LENGTH)
    value = forms.CharField(label="Value", max_length=METADATA_VALUE_MAX_LENGTH)
    display_in_invoice = forms.BooleanField(label="Display on invoices", required=False)


MetadataFormSet = forms.formset_factory(
    MetadataForm, extra=0, can_delete=True, max_num=METADATA_MAX_ROWS, validate_max=True, absolute_max=50
)


def metadata_rows(formset) -> list[dict]:
    rows = []
    for form in formset.forms:
        if not form.has_changed() and not form.cleaned_data.get("id"):
            continue
        if form.cleaned_data.get("DELETE"):
            continue
        rows.append(
            {
                "id": form.cleaned_data.get("id") or None,
                "key": form.cleaned_data["key"],
                "value": form.cleaned_data["value"],
                "display_in_invoice": form.cleaned_data["display_in_invoice"],
            }
        )
    return rows


# The subscription service's fields that the Assign a plan form names otherwise.
SUBSCRIPTION_FIELDS = {"plan_code": "plan", "currency": "plan", "subscription_at": "start_date"}


class AssignPlanForm(forms.Form):
    """Actions → Assign a plan: the subscription's plan, id, name, start date and billing time."""

    plan = forms.ModelChoiceField(label="Plan", queryset=None, empty_label="Choose a plan")
    external_id = forms.CharField(
        label="Subscription external ID", max_length=255, help_text="The ID your backend sends with events."
    )
    name = forms.CharField(label="Subscription name", max_length=255, required=False, empty_value=None)
    start_date = forms.DateField(
        label="Start date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="In the customer's timezone. Today starts the subscription now; a later day makes it pending.",
    )
    billing_time = forms.ChoiceField(
        label="Billing time",
        choices=[
            ("calendar", "Calendar: periods start on the 1st (or Monday, quarter, year)"),
            ("anniversary", "Anniversary: periods start on the start date's day"),
        ],
        initial="calendar",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, plans, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans
        self.fields["plan"].label_from_instance = lambda plan: f"{plan.name} ({plan.code}, {plan.interval})"

    def add_service_errors(self, error: DomainError, *, customer) -> None:
        """Put the subscription service's refusal next to the field it concerns, naming the two
        currencies when they differ."""
        plan = self.cleaned_data.get("plan")
        facts = {
            "plan_currency": plan.amount_currency if plan else "",
            "customer_currency": customer.currency or "",
        }
        add_form_errors(self, error, resource="subscription", fields=SUBSCRIPTION_FIELDS, facts=facts)
