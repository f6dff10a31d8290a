"""The staff form behind Actions → Apply a coupon. It reads what staff type (an amount in major units,
a percentage, a frequency and a number of periods) and hands it to `coupons.services.apply_coupon`
as overrides of the coupon's terms; the service decides what may be applied."""

from django import forms

from billing.currencies import CURRENCY_CHOICES
from billing.errors import DomainError
from billing.form_fields import NUMBER_ATTRS, NumberField
from billing.money import canonical_decimal, from_minor_units
from billing.staff_errors import add_form_errors, sentence
from coupons.models import AppliedCoupon, Coupon, CouponFrequency, CouponType
from customers.models import Customer
from plans.add_on_forms import parse_major_amount

# The service's fields that this form names otherwise.
SERVICE_FIELDS = {"amount_cents": "amount"}
# The overrides that fit each kind of coupon, in the order the form shows them.
OVERRIDES = {
    CouponType.FIXED_AMOUNT: ["amount", "amount_currency", "frequency", "frequency_duration"],
    CouponType.PERCENTAGE: ["percentage_rate", "frequency", "frequency_duration"],
}


def describe_terms(terms: Coupon | AppliedCoupon) -> str:
    """The terms in words, such as "10% off, recurring for 3 billing periods", of a coupon or of the
    terms it was applied on."""
    if terms.percentage_rate is not None:
        value = f"{canonical_decimal(terms.percentage_rate)}%"
    else:
        value = f"{from_minor_units(terms.amount_cents, terms.amount_currency):,} {terms.amount_currency}"
    if terms.frequency == CouponFrequency.RECURRING:
        periods = terms.frequency_duration
        return f"{value} off, recurring for {periods} billing period{'s' if periods != 1 else ''}"
    if terms.frequency == CouponFrequency.FOREVER:
        return f"{value} off, forever"
    return f"{value} off, once"


def describe_limits(coupon: Coupon) -> str:
    """Which plans or metrics a coupon is limited to (its `plans` and `billable_metrics` prefetched)."""
    plans = [plan.name for plan in coupon.plans.all()]
    if plans:
        return "Only on the plans " + ", ".join(plans)
    metrics = [metric.name for metric in coupon.billable_metrics.all()]
    if metrics:
        return "Only on the charges of " + ", ".join(metrics)
    return ""


class CouponChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, coupon: Coupon) -> str:
        return f"{coupon.name} ({coupon.code}) · {describe_terms(coupon)}"


class ApplyCouponForm(forms.Form):
    """Empty overrides keep the coupon's terms; the form shows only those that fit the chosen coupon."""

    coupon = CouponChoiceField(
        label="Coupon",
        queryset=Coupon.objects.none(),
        empty_label="Choose a coupon",
        # The service's own words: a coupon terminated or deleted since the page was loaded.
        error_messages={"invalid_choice": sentence("coupon_not_found", resource="coupon")},
    )
    amount = forms.CharField(label="Amount", required=False, widget=forms.TextInput(attrs=NUMBER_ATTRS))
    amount_currency = forms.ChoiceField(label="Currency", required=False, choices=[("", "—"), *CURRENCY_CHOICES])
    percentage_rate = NumberField(label="Percentage")
    frequency = forms.ChoiceField(label="Frequency", required=False, choices=[("", "—"), *CouponFrequency.choices])
    frequency_duration = forms.IntegerField(
        label="Number of billing periods",
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def __init__(self, *args, customer: Customer, coupons, terms_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.fields["coupon"].queryset = coupons
        # Choosing a coupon fetches the overrides that fit it, described with its terms.
        self.fields["coupon"].widget.attrs.update(
            {"hx-get": terms_url, "hx-trigger": "change", "hx-target": "#coupon-terms", "hx-swap": "outerHTML"}
        )
        self.chosen = self._chosen_coupon()
        # Only the overrides that fit the chosen coupon exist: a value posted for another (a
        # percentage for a fixed amount) is not read, rather than refused out of sight.
        fitting = OVERRIDES[self.chosen.coupon_type] if self.chosen is not None else []
        for name in {name for names in OVERRIDES.values() for name in names} - set(fitting):
            del self.fields[name]
        if self.chosen is not None:
            self.chosen_terms = describe_terms(self.chosen)
            self.chosen_limits = describe_limits(self.chosen)
            self._describe_defaults(self.chosen)

    def _chosen_coupon(self) -> Coupon | None:
        """The coupon picked so far (posted, or preselected), among those offered: its terms are the
        defaults the overrides replace."""
        chosen = self.data.get(self.add_prefix("coupon")) if self.is_bound else self.initial.get("coupon")
        return next((coupon for coupon in self.fields["coupon"].queryset if str(coupon.pk) == str(chosen)), None)

    def _describe_defaults(self, coupon: Coupon) -> None:
        fields = self.fields
        fields["frequency"].choices = [
            ("", f"{coupon.get_frequency_display()} (the coupon's)"),
            *CouponFrequency.choices,
        ]
        fields["frequency_duration"].help_text = "Recurring only: how many billing periods it reduces." + (
            f" Empty: the coupon's {coupon.frequency_duration}." if coupon.frequency_duration else ""
        )
        if coupon.coupon_type == CouponType.FIXED_AMOUNT:
            amount = from_minor_units(coupon.amount_cents, coupon.amount_currency)
            fields["amount"].help_text = f"Empty: the coupon's {amount:,}."
            fields["amount_currency"].choices = [("", f"{coupon.amount_currency} (the coupon's)"), *CURRENCY_CHOICES]
            billed_in = self.customer.currency
            if billed_in:
                hint = f"This customer is billed in {billed_in}."
                if billed_in != coupon.amount_currency:
                    hint = f"This customer is billed in {billed_in}: choose {billed_in}, with an amount in {billed_in}."
                fields["amount_currency"].help_text = hint
        else:
            rate = canonical_decimal(coupon.percentage_rate)
            fields["percentage_rate"].help_text = f"Above 0 and up to 100. Empty: the coupon's {rate}%."

    def override_fields(self) -> list:
        """The overrides that fit the chosen coupon, in the order staff read them."""
        return [self[name] for name in self.fields if name != "coupon"]

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount")
        coupon = cleaned.get("coupon")
        if amount and coupon is not None:
            # The amount is in the currency chosen beside it, else in the coupon's.
            currency = cleaned.get("amount_currency") or coupon.amount_currency
            cleaned["amount_cents"], error = parse_major_amount(amount, currency, positive=True)
            if error:
                self.add_error("amount", error)
        return cleaned

    def overrides(self) -> dict:
        """What the service replaces in the coupon's terms; None (or absent) keeps the coupon's."""
        data = self.cleaned_data
        return {
            "amount_cents": data.get("amount_cents"),
            "amount_currency": data.get("amount_currency") or None,
            "percentage_rate": data.get("percentage_rate"),
            "frequency": data.get("frequency") or None,
            "frequency_duration": data.get("frequency_duration"),
        }

    def add_service_errors(self, error: DomainError) -> None:
        add_form_errors(self, error, resource="coupon", fields=SERVICE_FIELDS)
