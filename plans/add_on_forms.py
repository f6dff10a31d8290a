"""Staff form for add-ons, and the parsing of an amount typed in major units that the coupon form shares.

Forms parse input; the add-on services decide what is valid.
"""

from django import forms

from billing.currencies import CURRENCY_CHOICES, is_currency, minor_unit_digits
from billing.errors import DomainError
from billing.money import parse_decimal, to_minor_units
from billing.staff_errors import add_form_errors
from plans.forms import canonical_amount


def parse_major_amount(text: str, currency: str | None, *, positive: bool = False) -> tuple[int | None, str | None]:
    """An amount typed in major units ("12.50") as minor units of `currency` (1250), or the sentence
    that says what is wrong with it. `positive` refuses 0 as well as negative amounts.

    The amount is refused rather than rounded when it has more decimals than the currency: the
    amount saved must be the amount typed.
    """
    text = text.strip()
    if "," in text:
        return None, "Use a dot for decimals and no thousands separator, such as 1234.50."
    amount = parse_decimal(text)
    if positive and (amount is None or amount <= 0):
        return None, "Enter an amount above 0, such as 10.00."
    if amount is None or amount < 0:
        return None, "Enter an amount of 0 or more, such as 49.99."
    if currency is None or not is_currency(currency):
        return None, None  # the currency field carries its own error
    digits = minor_unit_digits(currency)
    if -amount.normalize().as_tuple().exponent > digits:
        if digits == 0:
            return None, f"{currency} has no minor unit: enter a whole amount."
        return None, f"{currency} amounts have at most {digits} decimals."
    return to_minor_units(amount, currency), None


class AddOnForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    code = forms.CharField(
        label="Code", max_length=255, strip=False, help_text="The add-on’s unique code, used by the API to apply it."
    )
    invoice_display_name = forms.CharField(
        label="Name on invoices", required=False, empty_value=None, max_length=255, help_text="Empty: the name."
    )
    description = forms.CharField(
        label="Description", required=False, empty_value=None, widget=forms.Textarea(attrs={"rows": 2})
    )
    amount = forms.CharField(
        label="Amount",
        max_length=40,
        help_text="Invoiced once, when the add-on is applied to a customer, in major units such as 49.99.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}),
    )
    amount_currency = forms.ChoiceField(label="Currency", choices=CURRENCY_CHOICES)

    def __init__(self, *args, add_on=None, **kwargs):
        if add_on is not None:
            kwargs["initial"] = {
                "name": add_on.name,
                "code": add_on.code,
                "invoice_display_name": add_on.invoice_display_name or "",
                "description": add_on.description or "",
                "amount": canonical_amount(add_on.amount_cents, add_on.amount_currency),
                "amount_currency": add_on.amount_currency,
            }
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("amount") is not None:
            cents, error = parse_major_amount(cleaned["amount"], cleaned.get("amount_currency"))
            if error:
                self.add_error("amount", error)
            cleaned["amount_cents"] = cents
        return cleaned

    def service_data(self) -> dict:
        data = {
            name: self.cleaned_data.get(name)
            for name in ("name", "code", "invoice_display_name", "description", "amount_currency")
        }
        data["amount_cents"] = self.cleaned_data["amount_cents"]
        return data

    def add_service_errors(self, error: DomainError) -> None:
        """Put the service's refusal next to each field."""
        add_form_errors(self, error, resource="add_on", fields={"amount_cents": "amount"})
