"""The staff forms of a customer's wallet: Add a wallet, Top up, Void credits. They read what staff
type (credits and rates as exact decimals, an expiration day); the services decide what is valid."""

from datetime import date, datetime, timedelta

from django import forms

from billing.currencies import CURRENCY_CHOICES
from billing.errors import DomainError
from billing.form_fields import NumberField
from billing.staff_errors import add_form_errors
from customers.models import Customer
from plans.billing_periods import local_midnight

# The service's fields that these forms name otherwise.
SERVICE_FIELDS = {"expiration_at": "expiration_date"}

PAID_HELP = "Invoiced at once on a credit invoice; they reach the balance when that invoice is paid."
GRANTED_HELP = "Free credits, in the balance at once."


def end_of_day(day: date, timezone: str) -> datetime:
    """The instant a wallet expiring on `day` ends: the next local midnight in the customer's timezone,
    so that the whole of that day is still covered."""
    return local_midnight(day + timedelta(days=1), timezone)


class CreditsForm(forms.Form):
    """A form with credits, in fields named as `TopUp` names them (`paid_credits`...)."""

    def credits(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name.endswith("_credits")}

    def add_service_errors(self, error: DomainError) -> None:
        # A refusal about the customer (a wallet already active) or the wallet (terminated) concerns
        # the whole form: above it, without a field's name.
        kept = add_form_errors(
            self, error, resource="wallet", fields=SERVICE_FIELDS, elsewhere={"customer", "wallet_id"}
        )
        for item in kept:
            self.add_error(None, item.text)


class WalletForm(CreditsForm):
    """Actions → Add a wallet: the wallet and its first credits, in one service call."""

    name = forms.CharField(label="Name", required=False, empty_value=None, help_text="Optional.")
    currency = forms.ChoiceField(label="Currency", choices=[("", "Choose a currency"), *CURRENCY_CHOICES])
    rate_amount = NumberField(label="Value of one credit", required=True)
    paid_credits = NumberField(label="Paid credits", help_text=PAID_HELP)
    granted_credits = NumberField(label="Granted credits", help_text=GRANTED_HELP)
    expiration_date = forms.DateField(
        label="Expiration date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        if customer.currency:
            # The wallet takes the customer's currency; only a customer without one chooses.
            del self.fields["currency"]
            self.fields["rate_amount"].help_text = f"In {customer.currency}: 1 credit is worth this amount."
        else:
            self.fields["currency"].help_text = "Also becomes the customer's currency."
            self.fields["rate_amount"].help_text = "In the currency above: 1 credit is worth this amount."
        self.fields["expiration_date"].help_text = (
            f"The wallet ends after this day ({customer.applicable_timezone}) and its remaining credits are "
            "voided. Empty: it never expires."
        )

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        day = data["expiration_date"]
        return {
            "name": data["name"],
            "currency": data.get("currency") or None,
            "rate_amount": data["rate_amount"],
            "expiration_at": end_of_day(day, self.customer.applicable_timezone) if day else None,
        }


class TopUpForm(CreditsForm):
    """Actions → Top up: paid and granted credits for the active wallet."""

    paid_credits = NumberField(label="Paid credits", help_text=PAID_HELP)
    granted_credits = NumberField(label="Granted credits", help_text=GRANTED_HELP)

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not (cleaned.get("paid_credits") or cleaned.get("granted_credits")):
            # Nothing would change: never report a top-up that did not happen.
            raise forms.ValidationError("Enter paid or granted credits.")
        return cleaned


class VoidCreditsForm(CreditsForm):
    """Take credits out of the active wallet at once."""

    voided_credits = NumberField(label="Credits to void", required=True)
