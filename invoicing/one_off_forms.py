"""The staff form behind Actions → Apply an add-on: one or more add-ons, each with its units, unit
amount (typed in major units of the invoice's currency) and description. The service
(`invoicing.one_off.create_one_off_invoice`) decides what may be invoiced."""

from django import forms

from billing.currencies import CURRENCY_CHOICES
from billing.errors import DomainError
from billing.form_fields import NUMBER_ATTRS, NumberField
from billing.money import from_minor_units
from billing.staff_errors import add_form_errors, sentence, sentences
from customers.models import Customer
from plans.add_on_forms import parse_major_amount
from plans.models import AddOn

# The service's fields that a fee row names otherwise.
ROW_FIELDS = {"add_on_code": "add_on", "unit_amount_cents": "unit_amount"}
MAX_ROWS = 20


class CurrencyForm(forms.Form):
    """The invoice's currency: the customer's, chosen here only while the customer has none."""

    currency = forms.ChoiceField(
        label="Currency",
        choices=[("", "Choose a currency"), *CURRENCY_CHOICES],
        help_text="Also becomes the customer's currency.",
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        if customer.currency:
            del self.fields["currency"]

    def invoice_currency(self) -> str:
        return self.customer.currency or self.cleaned_data["currency"]


class AddOnFeeForm(forms.Form):
    """One fee of the invoice. Empty units mean 1; an empty unit amount, the add-on's."""

    add_on = forms.ChoiceField(
        label="Add-on",
        # The service's own words: an add-on deleted since the page was loaded.
        error_messages={"invalid_choice": sentence("add_on_not_found", resource="one_off_invoice")},
    )
    units = NumberField(label="Units", help_text="Empty: 1.")
    unit_amount = forms.CharField(label="Unit amount", required=False, widget=forms.TextInput(attrs=NUMBER_ATTRS))
    description = forms.CharField(
        label="Description",
        required=False,
        empty_value=None,
        help_text="Shown on the invoice. Empty: the add-on's name on invoices.",
    )

    def __init__(self, *args, add_ons: dict[str, AddOn], currency: str | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_ons = add_ons
        self.fields["unit_amount"].help_text = f"In {currency or 'the currency above'}. Empty: the add-on's price."
        self.fields["add_on"].choices = [
            ("", "Choose an add-on"),
            *[
                (
                    code,
                    f"{add_on.name} · {from_minor_units(add_on.amount_cents, add_on.amount_currency):,} "
                    f"{add_on.amount_currency}",
                )
                for code, add_on in add_ons.items()
            ],
        ]

    def service_fee(self, currency: str) -> dict | None:
        """The fee as the service reads it, or None after putting what stops it next to its field."""
        data = self.cleaned_data
        add_on = self.add_ons[data["add_on"]]
        unit_amount_cents = None
        if data["unit_amount"]:
            unit_amount_cents, error = parse_major_amount(data["unit_amount"], currency)
            if error:
                self.add_error("unit_amount", error)
                return None
        elif add_on.amount_currency != currency:
            # The add-on's price is a number of another currency's minor units: billing it as is
            # would invoice 100 USD as 100 EUR (Lago's seed-era UI refuses the mismatch too).
            self.add_error(
                "unit_amount",
                f"This add-on is priced in {add_on.amount_currency} and the invoice is in {currency}: "
                f"enter its unit amount in {currency}.",
            )
            return None
        return {
            "add_on_code": add_on.code,
            "units": data["units"],
            "unit_amount_cents": unit_amount_cents,
            "description": data["description"],
        }


class BaseAddOnFeeFormSet(forms.BaseFormSet):
    default_error_messages = {
        **forms.BaseFormSet.default_error_messages,
        "too_few_forms": "Choose at least one add-on.",
        "too_many_forms": f"At most {MAX_ROWS} add-ons per invoice.",
    }

    def live_forms(self) -> list[AddOnFeeForm]:
        """The fees to invoice: rows neither removed nor added and left empty (call once valid)."""
        return [form for form in self.forms if form not in self.deleted_forms and form.has_changed()]

    def service_fees(self, currency: str) -> list[dict] | None:
        fees = [form.service_fee(currency) for form in self.live_forms()]
        return None if None in fees else fees


AddOnFeeFormSet = forms.formset_factory(
    AddOnFeeForm,
    formset=BaseAddOnFeeFormSet,
    extra=0,
    min_num=1,
    validate_min=True,
    max_num=MAX_ROWS,
    validate_max=True,
    absolute_max=MAX_ROWS,
    can_delete=True,
)


def add_service_errors(error: DomainError, *, currency_form: CurrencyForm, formset: BaseAddOnFeeFormSet) -> list[str]:
    """Put the service's refusal in words. It names a fee's field but not the fee: with one fee the
    sentence goes next to the field; with several, above the fees (returned, headed by the field's
    name), as does what concerns the whole invoice."""
    rows = formset.live_forms()
    if len(rows) == 1:
        kept = add_form_errors(rows[0], error, resource="one_off_invoice", fields=ROW_FIELDS, elsewhere={"currency"})
    else:
        kept = sentences(error, resource="one_off_invoice")
    above = []
    for item in kept:
        if item.field == "currency" and "currency" in currency_form.fields:
            currency_form.add_error("currency", item.text)
        else:
            above.append(item.labelled)
    return above
