"""Staff form for coupons. It parses input; the coupon services decide what is valid.

Once a coupon has been applied, its service refuses any change but to the name, description and
expiration (`coupon_is_applied`); the form asks the same predicate and shows the other fields disabled.
"""

import re
from collections.abc import Iterable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.currencies import CURRENCY_CHOICES
from billing.errors import DomainError, NotFound
from billing.money import canonical_decimal, parse_decimal
from billing.staff_errors import add_form_errors, sentence
from coupons.models import Coupon, CouponExpiration, CouponFrequency, CouponStatus, CouponType
from coupons.services import EDITABLE_WHEN_APPLIED, coupon_is_applied
from organizations.models import Organization
from plans.add_on_forms import parse_major_amount
from plans.forms import canonical_amount
from plans.models import BillableMetric, Plan

APPLIES_TO_ALL = "all"
APPLIES_TO_PLANS = "plans"
APPLIES_TO_METRICS = "billable_metrics"

# The service field each form field feeds. The fields whose service field an applied coupon keeps
# editable stay open; the others are shown disabled.
SERVICE_FIELDS = {
    "name": "name",
    "code": "code",
    "description": "description",
    "coupon_type": "coupon_type",
    "amount": "amount_cents",
    "amount_currency": "amount_currency",
    "percentage_rate": "percentage_rate",
    "frequency": "frequency",
    "frequency_duration": "frequency_duration",
    "expiration": "expiration",
    "expiration_date": "expiration_at",
    "reusable": "reusable",
    "applies_to": "plan_codes",
    "plan_codes": "plan_codes",
    "billable_metric_codes": "billable_metric_codes",
}
LOCKED_WHEN_APPLIED = tuple(name for name, field in SERVICE_FIELDS.items() if field not in EDITABLE_WHEN_APPLIED)
# Where a service error lands when its field has another name on this form.
FORM_FIELDS = {"amount_cents": "amount", "expiration_at": "expiration_date"}


def _limit_choices(live: Iterable[Plan | BillableMetric], chosen: Iterable[Plan | BillableMetric]):
    """Choices by code for the live plans (or metrics), plus those the coupon is limited to that were
    deleted since: an applied coupon keeps them, and unchecking them must be possible."""
    choices = [(item.code, f"{item.name} ({item.code})") for item in live]
    offered = {code for code, _ in choices}
    choices += [(item.code, f"{item.name} ({item.code}, deleted)") for item in chosen if item.code not in offered]
    return choices


class CouponForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    code = forms.CharField(
        label="Code", max_length=255, strip=False, help_text="The coupon’s unique code, used by the API to apply it."
    )
    description = forms.CharField(
        label="Description", required=False, empty_value=None, widget=forms.Textarea(attrs={"rows": 2})
    )
    coupon_type = forms.ChoiceField(
        label="Type", choices=CouponType.choices, initial=CouponType.FIXED_AMOUNT, widget=forms.RadioSelect
    )
    amount = forms.CharField(
        label="Amount",
        required=False,
        max_length=40,
        help_text="Deducted from invoices, in major units of the currency, such as 10.00.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}),
    )
    amount_currency = forms.ChoiceField(label="Currency", required=False, choices=CURRENCY_CHOICES)
    percentage_rate = forms.CharField(
        label="Percentage (%)",
        required=False,
        max_length=40,
        help_text="Of each invoice it reduces, above 0 and up to 100, such as 12.5.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "10"}),
    )
    frequency = forms.ChoiceField(
        label="Frequency",
        choices=[
            (CouponFrequency.ONCE, "Once: the next invoice (what a fixed amount leaves over goes to the next ones)"),
            (CouponFrequency.RECURRING, "Recurring: the invoices of a number of billing periods"),
            (CouponFrequency.FOREVER, "Forever: every invoice"),
        ],
        initial=CouponFrequency.ONCE,
        widget=forms.RadioSelect,
    )
    frequency_duration = forms.CharField(
        label="Number of billing periods",
        required=False,
        max_length=9,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "placeholder": "3"}),
    )
    expiration = forms.ChoiceField(
        label="Expiration",
        choices=[
            (CouponExpiration.NO_EXPIRATION, "No expiration"),
            (CouponExpiration.TIME_LIMIT, "Can be applied until a date"),
        ],
        initial=CouponExpiration.NO_EXPIRATION,
        widget=forms.RadioSelect,
    )
    expiration_date = forms.CharField(
        label="Last day it can be applied", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    reusable = forms.BooleanField(
        label="Reusable: can be applied to the same customer more than once", required=False, initial=True
    )
    applies_to = forms.ChoiceField(
        label="Applies to",
        choices=[
            (APPLIES_TO_ALL, "All plans and usage"),
            (APPLIES_TO_PLANS, "Some plans only"),
            (APPLIES_TO_METRICS, "Some billable metrics only"),
        ],
        initial=APPLIES_TO_ALL,
        widget=forms.RadioSelect,
    )
    plan_codes = forms.MultipleChoiceField(label="Plans", required=False, widget=forms.CheckboxSelectMultiple)
    billable_metric_codes = forms.MultipleChoiceField(
        label="Billable metrics", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(
        self,
        *args,
        organization: Organization,
        plans: Iterable[Plan],
        metrics: Iterable[BillableMetric],
        coupon: Coupon | None = None,
        **kwargs,
    ):
        self.coupon = coupon
        self.zone = ZoneInfo(organization.default_timezone)
        if coupon is None:
            kwargs["initial"] = {"amount_currency": organization.default_currency}
        else:
            kwargs["initial"] = self._initial(coupon, organization)
        super().__init__(*args, **kwargs)
        chosen_plans = list(coupon.plans.all()) if coupon else []
        chosen_metrics = list(coupon.billable_metrics.all()) if coupon else []
        self.fields["plan_codes"].choices = _limit_choices(plans, chosen_plans)
        self.fields["billable_metric_codes"].choices = _limit_choices(metrics, chosen_metrics)
        self.fields["expiration_date"].help_text = (
            f"Included: it can be applied until the end of that day ({organization.default_timezone}). "
            "Customers who have it keep it after that."
        )
        self.terminated_reason = None
        self.lock_reason = None
        if coupon is not None and coupon.status == CouponStatus.TERMINATED:
            # The service refuses every change to a terminated coupon: nothing is offered.
            self.terminated_reason = sentence("coupon_is_terminated", resource="coupon")
            for field in self.fields.values():
                field.disabled = True
        elif coupon is not None and coupon_is_applied(coupon):
            self.lock_reason = sentence("coupon_is_applied", resource="coupon")
            # A page shown before the coupon was applied sent its terms: they must reach the service,
            # which refuses a change to them, rather than be replaced by the stored ones and reported saved.
            if not self.is_bound or self.data.get("terms_locked") == "1":
                self.lock_terms()

    def _initial(self, coupon: Coupon, organization: Organization) -> dict:
        plans = [plan.code for plan in coupon.plans.all()]
        metrics = [metric.code for metric in coupon.billable_metrics.all()]
        return {
            "name": coupon.name,
            "code": coupon.code,
            "description": coupon.description or "",
            "coupon_type": coupon.coupon_type,
            "amount": canonical_amount(coupon.amount_cents, coupon.amount_currency) if coupon.amount_cents else "",
            "amount_currency": coupon.amount_currency or organization.default_currency,
            "percentage_rate": canonical_decimal(coupon.percentage_rate) if coupon.percentage_rate else "",
            "frequency": coupon.frequency,
            "frequency_duration": str(coupon.frequency_duration or ""),
            "expiration": coupon.expiration,
            "expiration_date": self._expiration_day(coupon).isoformat() if coupon.expiration_at else "",
            "reusable": coupon.reusable,
            "applies_to": APPLIES_TO_PLANS if plans else APPLIES_TO_METRICS if metrics else APPLIES_TO_ALL,
            "plan_codes": plans,
            "billable_metric_codes": metrics,
        }

    def _expiration_day(self, coupon: Coupon) -> date:
        return timezone.localtime(coupon.expiration_at, self.zone).date()

    def lock_terms(self) -> None:
        """Show the fields an applied coupon can no longer change disabled, with their stored values."""
        for name in LOCKED_WHEN_APPLIED:
            self.fields[name].disabled = True

    @property
    def terms_locked(self) -> bool:
        return self.fields["code"].disabled

    def clean(self):
        cleaned = super().clean()
        # Only the fields of the chosen options are read: the others may hold anything (hidden, or
        # typed before another option was picked).
        cleaned["amount_cents"] = None
        if cleaned.get("coupon_type") == CouponType.FIXED_AMOUNT and cleaned.get("amount"):
            cents, error = parse_major_amount(cleaned["amount"], cleaned.get("amount_currency") or None, positive=True)
            if error:
                self.add_error("amount", error)
            cleaned["amount_cents"] = cents
        rate = None
        if cleaned.get("coupon_type") == CouponType.PERCENTAGE and cleaned.get("percentage_rate"):
            text = cleaned["percentage_rate"].strip().removesuffix("%")
            rate = None if "," in text else parse_decimal(text)
            if rate is None:
                self.add_error("percentage_rate", "Enter a percentage with a dot for decimals, such as 12.5.")
        cleaned["rate"] = rate
        duration = None
        if cleaned.get("frequency") == CouponFrequency.RECURRING and cleaned.get("frequency_duration"):
            text = cleaned["frequency_duration"].strip()
            if re.fullmatch(r"[0-9]+", text):
                duration = int(text)
            else:
                self.add_error("frequency_duration", "Enter a whole number of billing periods, such as 3.")
        cleaned["duration"] = duration
        cleaned["expiration_at"] = None
        if cleaned.get("expiration") == CouponExpiration.TIME_LIMIT and cleaned.get("expiration_date"):
            cleaned["expiration_at"] = self._expiration_at(cleaned["expiration_date"])
        self._require_chosen_fields(cleaned)
        applies_to = cleaned.get("applies_to")
        if applies_to == APPLIES_TO_PLANS and not cleaned.get("plan_codes"):
            self.add_error("plan_codes", "Choose at least one plan.")
        if applies_to == APPLIES_TO_METRICS and not cleaned.get("billable_metric_codes"):
            self.add_error("billable_metric_codes", "Choose at least one billable metric.")
        return cleaned

    def _require_chosen_fields(self, cleaned: dict) -> None:
        """The field a chosen option needs, left empty. The service refuses it too, in the same words,
        but only once the rest of the form is valid: said here, every error shows at the first submit."""
        needed = {
            "amount": cleaned.get("coupon_type") == CouponType.FIXED_AMOUNT,
            "percentage_rate": cleaned.get("coupon_type") == CouponType.PERCENTAGE,
            "frequency_duration": cleaned.get("frequency") == CouponFrequency.RECURRING,
            "expiration_date": cleaned.get("expiration") == CouponExpiration.TIME_LIMIT,
        }
        for name, chosen in needed.items():
            if chosen and not cleaned.get(name) and name not in self.errors:
                field = SERVICE_FIELDS[name]
                self.add_error(name, sentence("value_is_mandatory", resource="coupon", field=field))

    def _expiration_at(self, text: str) -> datetime | None:
        """The end of the chosen day in the organization's timezone; the stored moment when the day is
        the one shown, so that saving the form never moves an expiration set by the API."""
        try:
            day = forms.DateField().to_python(text.strip())
        except ValidationError:
            self.add_error("expiration_date", "Enter a date, such as 2030-12-31.")
            return None
        coupon = self.coupon
        if coupon is not None and coupon.expiration_at is not None and self._expiration_day(coupon) == day:
            return coupon.expiration_at
        return datetime.combine(day, time.max, tzinfo=self.zone)

    def service_data(self) -> dict:
        cleaned = self.cleaned_data
        fixed = cleaned["coupon_type"] == CouponType.FIXED_AMOUNT
        applies_to = cleaned["applies_to"]
        return {
            "name": cleaned["name"],
            "code": cleaned["code"],
            "description": cleaned["description"],
            "coupon_type": cleaned["coupon_type"],
            "amount_cents": cleaned["amount_cents"],
            "amount_currency": (cleaned.get("amount_currency") or None) if fixed else None,
            "percentage_rate": cleaned["rate"],
            "frequency": cleaned["frequency"],
            "frequency_duration": cleaned["duration"],
            "expiration": cleaned["expiration"],
            "expiration_at": cleaned["expiration_at"],
            "reusable": cleaned["reusable"],
            "plan_codes": cleaned["plan_codes"] if applies_to == APPLIES_TO_PLANS else [],
            "billable_metric_codes": cleaned["billable_metric_codes"] if applies_to == APPLIES_TO_METRICS else [],
        }

    def add_service_errors(self, error: DomainError) -> None:
        """Put the service's refusal next to each field; a chosen plan or metric deleted meanwhile next
        to its list."""
        if isinstance(error, NotFound) and error.resource in ("plans", "billable_metrics"):
            field = "plan_codes" if error.resource == "plans" else "billable_metric_codes"
            self.add_error(field, sentence(error.code, resource="coupon"))
            return
        add_form_errors(self, error, resource="coupon", fields=FORM_FIELDS)
        if self.lock_reason:
            # The page was shown before the coupon was applied: show the stored terms, now locked.
            self.lock_terms()
