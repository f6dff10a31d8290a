"""The staff form for a customer. It parses input; the service decides what is valid."""

from django import forms
from django.utils import timezone
from django_countries import countries

from billing.currencies import CURRENCY_CHOICES
from billing.timezones import timezone_options
from customers.models import METADATA_KEY_MAX_LENGTH, METADATA_MAX_ROWS, METADATA_VALUE_MAX_LENGTH, PaymentProvider

# Sentences shown next to a field for each error code the services raise.
ERROR_MESSAGES = {
    "value_is_mandatory": "This field is required.",
    "value_already_exist": "Already used by another customer.",
    "value_is_invalid": "This value is not valid.",
    "value_is_too_long": "This value is too long.",
    "value_is_out_of_range": "This value is out of range.",
    "invalid_timezone": "Unknown timezone: choose an IANA name from the list, such as Europe/Paris.",
    "invalid_email_format": "Enter valid email addresses, separated by commas.",
    "not_a_valid_country_code": "Unknown country.",
    "duplicated_key": "Each metadata key can be used only once.",
    "invalid_count": f"A customer can have at most {METADATA_MAX_ROWS} metadata rows.",
    "value_is_not_editable": "The external ID cannot change once a plan, coupon, add-on or wallet is assigned.",
}


def error_message(code: str) -> str:
    """The sentence for a service error code; an unknown code still reads as words."""
    return ERROR_MESSAGES.get(code, code.replace("_", " ").capitalize() + ".")


FIELD_ORDER = [
    "name",
    "external_id",
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
    "payment_provider",
    "provider_customer_id",
]


def _optional(label: str, **kwargs) -> forms.CharField:
    return forms.CharField(label=label, required=False, empty_value=None, **kwargs)


class CustomerForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
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
    payment_provider = forms.ChoiceField(
        label="Payment provider", required=False, choices=[("", "None"), *PaymentProvider.choices]
    )
    provider_customer_id = _optional("Provider customer ID")

    def __init__(self, *args, lock_reason: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock_reason = lock_reason
        if lock_reason:
            # Read-only rather than disabled: a changed value still reaches the service, which
            # refuses it, so the form never reports a change it did not make.
            self.fields["external_id"].widget.attrs["readonly"] = True
            self.fields["external_id"].help_text = lock_reason
        self.timezone_options = timezone_options(timezone.now())

    def service_data(self) -> dict:
        data = {name: self.cleaned_data.get(name) for name in FIELD_ORDER}
        for name in ("currency", "country", "payment_provider"):
            data[name] = data[name] or None
        return data

    def account_fields(self):
        return [self[name] for name in ("name", "external_id", "timezone")]

    def company_fields(self):
        return [
            self[name]
            for name in ("currency", "legal_name", "legal_number", "tax_identification_number", "email", "phone", "url")
        ]

    def address_fields(self):
        return [self[name] for name in ("address_line1", "address_line2", "zipcode", "city", "state", "country")]

    def provider_fields(self):
        return [self["payment_provider"], self["provider_customer_id"]]


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


def add_domain_errors(form: CustomerForm, details: dict[str, list[str]]) -> list[str]:
    """Put the service's error codes next to their fields, as sentences; return the metadata ones."""
    metadata_messages: list[str] = []
    for field, codes in details.items():
        messages = []
        for code in codes:
            if code == "value_is_not_editable" and form.lock_reason:
                messages.append(form.lock_reason)
            else:
                messages.append(error_message(code))
        if field == "metadata":
            metadata_messages.extend(messages)
        elif field in form.fields:
            for message in messages:
                form.add_error(field, message)
        else:
            for message in messages:
                form.add_error(None, f"{field}: {message}")
    return metadata_messages


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


SUBSCRIPTION_ERROR_MESSAGES = {
    "value_already_exist": "A live subscription already uses this external ID.",
    "currencies_does_not_match": "The plan's currency differs from the customer's currency.",
    "invalid_date": "Enter a valid start date.",
}


def add_subscription_errors(form: AssignPlanForm, details: dict[str, list[str]]) -> None:
    fields = {"external_id": "external_id", "name": "name", "currency": "plan", "plan_code": "plan"}
    for field, codes in details.items():
        for code in codes:
            message = SUBSCRIPTION_ERROR_MESSAGES.get(code) or ERROR_MESSAGES.get(code, code.replace("_", " ") + ".")
            target = fields.get(field)
            form.add_error(target if target in form.fields else None, message)
