"""A form field shared by the staff forms that read numbers that are not money: credits, rates and
percentages. It parses exactly (`billing.money.parse_decimal`), never through a float; whether a number
is allowed (positive, in range, how many decimals) is the service's call, worded by `billing.staff_errors`.
Money typed in major units is read by `plans.add_on_forms.parse_major_amount`."""

from decimal import Decimal

from django import forms

from billing.money import parse_decimal

NUMBER_ATTRS = {"inputmode": "decimal", "autocomplete": "off"}


class NumberField(forms.CharField):
    """A number typed as text, read as a Decimal ("0.1" stays exactly 0.1); empty is None."""

    default_error_messages = {"invalid": "Enter a number, such as 12.50."}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.widget.attrs.update(NUMBER_ATTRS)

    def to_python(self, value) -> Decimal | None:
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        number = parse_decimal(text)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number
