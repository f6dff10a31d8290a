"""The staff form that issues a credit note. It parses amounts typed in major units ("12.50") into
integer minor units; the service (`invoicing.credit_notes`) decides what may be given back."""

from decimal import Decimal

from django import forms

from billing.currencies import minor_unit_digits
from billing.errors import DomainError
from billing.money import from_minor_units, parse_decimal, to_minor_units
from billing.staff_errors import add_form_errors, sentence
from invoicing.credit_notes import is_refundable
from invoicing.models import CreditNoteReason

# Amounts are stored as 64-bit integers of minor units; nothing real comes near this.
MAX_DIGITS = 14

# The service's fields that this form names otherwise.
SERVICE_FIELDS = {"credit_amount_cents": "credit_amount", "refund_amount_cents": "refund_amount"}

AMOUNT_ATTRS = {"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00", "class": "amount-input"}


def _amount_field(label: str, **kwargs) -> forms.CharField:
    return forms.CharField(label=label, required=False, widget=forms.TextInput(attrs=dict(AMOUNT_ATTRS)), **kwargs)


class CreditNoteForm(forms.Form):
    """Reason, description, one amount per fee, then the split between credit and refund.

    Per fee fields are named `fee_<fee id>`. An empty amount counts as zero; an empty credit amount
    means "the rest of the total after the refund".
    """

    reason = forms.ChoiceField(label="Reason", choices=[("", "Choose a reason"), *CreditNoteReason.choices])
    description = forms.CharField(
        label="Description",
        required=False,
        empty_value=None,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Optional. Shown on the credit note.",
    )
    credit_amount = _amount_field(
        "Credit to the customer",
        help_text="Lowers the customer's next invoices. Empty: everything not refunded is credited.",
    )
    refund_amount = _amount_field("Refund")

    def __init__(self, *args, invoice, fees, remaining, **kwargs):
        super().__init__(*args, **kwargs)
        self.invoice = invoice
        self.currency = invoice.currency
        self.digits = minor_unit_digits(self.currency)
        self.remaining = remaining
        self.fees = fees
        placeholder = format(from_minor_units(0, self.currency), "f")
        for fee in fees:
            left = remaining.per_fee.get(fee.pk, 0)
            field = _amount_field(fee.description)
            field.widget.attrs.update(placeholder=placeholder, **({"readonly": True} if left == 0 else {}))
            self.fields[self.fee_field_name(fee)] = field
        self.fields["credit_amount"].widget.attrs["placeholder"] = placeholder
        self.fields["refund_amount"].widget.attrs["placeholder"] = placeholder
        self.refund_allowed = is_refundable(invoice)
        if self.refund_allowed:
            self.fields["refund_amount"].help_text = "Money to pay back to the customer."
        else:
            # Read-only rather than disabled: a typed value still reaches the service, which refuses
            # it, so the form never reports a refund it did not make.
            self.fields["refund_amount"].widget.attrs["readonly"] = True
            self.fields["refund_amount"].help_text = (
                f"Refunds are only possible on a paid invoice; this invoice's payment is "
                f"{invoice.get_payment_status_display().lower()}. Give the amount back as credit instead."
            )

    @staticmethod
    def fee_field_name(fee) -> str:
        return f"fee_{fee.pk}"

    def fee_rows(self):
        """(fee, bound field, remaining creditable minor units) for each fee, in the invoice's order."""
        return [(fee, self[self.fee_field_name(fee)], self.remaining.per_fee.get(fee.pk, 0)) for fee in self.fees]

    def _parse(self, data, name: str) -> tuple[int | None, str | None]:
        """The field's amount in minor units, or None and why it is not one. Empty is zero."""
        text = (data.get(self.add_prefix(name)) or "").strip()
        if text == "":
            return 0, None
        value = parse_decimal(text)
        if value is None:
            return None, "Enter an amount such as 12.50."
        if value < 0:
            return None, sentence("value_is_out_of_range", resource="credit_note")
        if value.adjusted() > MAX_DIGITS:
            return None, "This amount is too large."
        if value != value.quantize(Decimal(1).scaleb(-self.digits)):
            if self.digits == 0:
                return None, f"{self.currency} has no decimals."
            return None, f"Use at most {self.digits} decimals for {self.currency}."
        return to_minor_units(value, self.currency), None

    def parsed_items(self, data=None) -> tuple[dict, dict]:
        """({fee id: minor units} for every fee with an amount, {field name: why unreadable})."""
        data = self.data if data is None else data
        amounts, errors = {}, {}
        for fee in self.fees:
            name = self.fee_field_name(fee)
            cents, error = self._parse(data, name)
            if error:
                errors[name] = error
            elif cents:
                amounts[fee.pk] = cents
        return amounts, errors

    def clean(self):
        cleaned = super().clean()
        items, errors = self.parsed_items()
        refund, errors["refund_amount"] = self._parse(self.data, "refund_amount")
        credit, errors["credit_amount"] = self._parse(self.data, "credit_amount")
        for name, error in errors.items():
            if error:
                self.add_error(name, error)
        if any(errors.values()):
            return cleaned
        total = sum(items.values())
        if not (self.data.get(self.add_prefix("credit_amount")) or "").strip():
            # An empty credit is the rest after the refund: a refund above the total leaves no rest.
            if refund > total:
                given = from_minor_units(total, self.currency)
                self.add_error("refund_amount", f"More than the fees given back ({given:,} {self.currency}).")
                return cleaned
            credit = total - refund
        cleaned.update(items=items, credit_cents=credit, refund_cents=refund)
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "reason": data["reason"],
            "description": data["description"],
            "items": [{"fee_id": str(fee_id), "amount_cents": cents} for fee_id, cents in data["items"].items()],
            "credit_amount_cents": data["credit_cents"],
            "refund_amount_cents": data["refund_cents"],
        }

    def add_service_errors(self, error: DomainError) -> None:
        """Put the service's refusal in words next to the field it concerns; what concerns the fees
        given back as a whole goes above them (the form's non-field errors)."""
        kept = add_form_errors(
            self, error, resource="credit_note", fields=SERVICE_FIELDS, elsewhere={"amount_cents", "base"}
        )
        for item in kept:
            if item.code == "higher_than_remaining_fee_amount":
                self._fee_errors(item.text)
            elif item.code == "does_not_match_item_amounts":
                self.add_error("credit_amount", item.text)
            else:
                self.add_error(None, item.text)

    def _fee_errors(self, message: str) -> None:
        """Mark the fees whose amount exceeds what is left on them (the service names no fee)."""
        items = self.cleaned_data.get("items") or {}
        over = [fee for fee in self.fees if items.get(fee.pk, 0) > self.remaining.per_fee.get(fee.pk, 0)]
        for fee in over:
            left = from_minor_units(self.remaining.per_fee.get(fee.pk, 0), self.currency)
            self.add_error(self.fee_field_name(fee), f"{message} At most {left:,} {self.currency}.")
        if not over:
            self.add_error(None, message)
