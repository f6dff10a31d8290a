"""Staff forms for billable metrics and plans. They parse input; the services decide what is valid."""

import itertools
from dataclasses import dataclass

from django import forms

from billing.currencies import CURRENCY_CHOICES, is_currency, minor_unit_digits
from billing.errors import DomainError
from billing.money import from_minor_units, parse_decimal, to_minor_units
from billing.staff_errors import add_form_errors, sentence
from plans.charge_editor import (
    CHARGE_MODEL_LABELS,
    TIER_CELL_LABELS,
    TIER_CELLS,
    Tier,
    fields_from_properties,
    filled_tiers,
    place_errors,
    properties_from_fields,
    starting_tiers,
)
from plans.charge_models import CHARGE_MODELS, validate_properties
from plans.models import AggregationType, PlanInterval
from plans.services import (
    LOCKED_METRIC_FIELDS,
    LOCKED_PLAN_FIELDS,
    charge_model_fits_metric,
    metric_is_locked,
    plan_is_locked,
)


def _lock_reason(resource: str, locked: bool) -> str | None:
    """Why the service refuses to change the locked fields, in the words of its refusal."""
    return sentence("value_is_not_editable", resource=resource) if locked else None


def _locked(form: forms.Form, names: tuple[str, ...], reason: str | None) -> None:
    """Show fields as locked (the form shows the reason once); a changed value still reaches the service,
    which refuses it, so the form never reports a change it did not make."""
    if not reason:
        return
    for name in names:
        field = form.fields[name]
        if not isinstance(field.widget, forms.Select):
            # A select has no read-only state: it stays submittable and its help says it is locked.
            field.widget.attrs["readonly"] = True
        field.help_text = "Locked: see the note above."


# Billable metrics ---------------------------------------------------------------------------


class BillableMetricForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    code = forms.CharField(
        label="Code",
        max_length=255,
        strip=False,
        help_text="Events are matched to this metric by this code (the event’s “code”).",
    )
    description = forms.CharField(
        label="Description", required=False, empty_value=None, widget=forms.Textarea(attrs={"rows": 2})
    )
    aggregation_type = forms.ChoiceField(
        label="Aggregation",
        choices=[("", "Choose an aggregation"), *AggregationType.choices],
        help_text="Count: number of events. Sum, max, latest: of a property. Unique count: distinct values.",
    )
    field_name = forms.CharField(
        label="Field name",
        required=False,
        empty_value=None,
        max_length=255,
        help_text="The event property to aggregate, such as “gb”. Required for every aggregation except count.",
    )

    def __init__(self, *args, metric=None, **kwargs):
        if metric is not None:
            kwargs["initial"] = {name: getattr(metric, name) or "" for name in self.base_fields}
        super().__init__(*args, **kwargs)
        # The service's own predicate: the fields are offered locked exactly when a change is refused.
        self.lock_reason = _lock_reason("billable_metric", metric is not None and metric_is_locked(metric))
        _locked(self, LOCKED_METRIC_FIELDS, self.lock_reason)

    def service_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.fields}

    def add_service_errors(self, error: DomainError) -> None:
        """Put the service's refusal next to each field."""
        add_form_errors(self, error, resource="billable_metric", lock_reason=self.lock_reason)


# Plans ----------------------------------------------------------------------------------------


class PlanForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    code = forms.CharField(
        label="Code", max_length=255, strip=False, help_text="The plan’s unique code, used to subscribe customers."
    )
    description = forms.CharField(
        label="Description", required=False, empty_value=None, widget=forms.Textarea(attrs={"rows": 2})
    )
    interval = forms.ChoiceField(label="Billing interval", choices=PlanInterval.choices)
    amount = forms.CharField(
        label="Base amount",
        max_length=40,
        help_text="Charged every period, in major units of the currency, such as 49.99. 0 for none.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "0.00"}),
    )
    amount_currency = forms.ChoiceField(label="Currency", choices=CURRENCY_CHOICES)
    pay_in_advance = forms.BooleanField(
        label="Pay the base amount in advance",
        required=False,
        help_text="Unchecked: the base amount is invoiced at the end of each period.",
    )
    trial_period = forms.IntegerField(
        label="Trial period (days)",
        required=False,
        min_value=0,
        max_value=3650,
        help_text="Days without the base amount at the start of a subscription. Empty: no trial.",
    )

    def __init__(self, *args, plan=None, **kwargs):
        if plan is not None:
            kwargs["initial"] = _plan_initial(plan)
        super().__init__(*args, **kwargs)
        # The service's own predicate: the fields are offered locked exactly when a change is refused.
        self.lock_reason = _lock_reason("plan", plan is not None and plan_is_locked(plan))
        _locked(self, LOCKED_PLAN_FIELDS, self.lock_reason)

    def clean(self):
        cleaned = super().clean()
        currency, text = cleaned.get("amount_currency"), cleaned.get("amount")
        if currency is None or text is None:
            return cleaned
        text = text.strip()
        if "," in text:
            self.add_error("amount", "Use a dot for decimals and no thousands separator, such as 1234.50.")
            return cleaned
        amount = parse_decimal(text)
        if amount is None or amount < 0:
            self.add_error("amount", "Enter an amount of 0 or more, such as 49.99.")
            return cleaned
        digits = minor_unit_digits(currency)
        if -amount.normalize().as_tuple().exponent > digits:
            # Refuse rather than round: the amount saved must be the amount typed.
            if digits == 0:
                self.add_error("amount", f"{currency} has no minor unit: enter a whole amount.")
            else:
                self.add_error("amount", f"{currency} amounts have at most {digits} decimals.")
            return cleaned
        cleaned["amount_cents"] = to_minor_units(amount, currency)
        return cleaned

    def service_data(self) -> dict:
        data = {
            name: self.cleaned_data.get(name)
            for name in ("name", "code", "description", "interval", "amount_currency", "pay_in_advance")
        }
        data["amount_cents"] = self.cleaned_data["amount_cents"]
        data["trial_period"] = self.cleaned_data.get("trial_period") or 0
        return data

    def add_service_errors(self, error: DomainError) -> None:
        """Put the service's refusal next to each plan field. The plan's own fields are all on this
        form, so the rest is about its charges: the template shows the non-field errors above them."""
        add_form_errors(self, error, resource="plan", fields={"amount_cents": "amount"}, lock_reason=self.lock_reason)


def _plan_initial(plan) -> dict:
    return {
        "name": plan.name,
        "code": plan.code,
        "description": plan.description or "",
        "interval": plan.interval,
        "amount": canonical_amount(plan.amount_cents, plan.amount_currency),
        "amount_currency": plan.amount_currency,
        "pay_in_advance": plan.pay_in_advance,
        "trial_period": plan.trial_period or None,
    }


def canonical_amount(amount_cents: int, currency: str) -> str:
    """An amount in major units with the currency's minor digits (4999 EUR -> "49.99")."""
    if not is_currency(currency):
        return str(amount_cents)
    return str(from_minor_units(amount_cents, currency))


def format_amount(amount_cents: int, currency: str) -> str:
    """For display: "1,234.50 EUR", "1,000 JPY"."""
    if not is_currency(currency):
        return f"{amount_cents} {currency}"
    return f"{from_minor_units(amount_cents, currency):,f} {currency}"


# Charges ----------------------------------------------------------------------------------------


class TiersWidget(forms.Widget):
    """The tiers table posts each column as repeated values (`<name>-from_value`, ...), one per row in
    page order, so that the page adds and removes rows without renumbering anything."""

    def value_from_datadict(self, data, files, name) -> list[Tier]:
        columns = [_posted_list(data, f"{name}-{cell}") for cell in TIER_CELLS]
        return [dict(zip(TIER_CELLS, row, strict=True)) for row in itertools.zip_longest(*columns, fillvalue="")]

    def value_omitted_from_data(self, data, files, name) -> bool:
        return not any(f"{name}-{cell}" in data for cell in TIER_CELLS)


def _posted_list(data, key: str) -> list[str]:
    values = data.getlist(key) if hasattr(data, "getlist") else data.get(key, [])
    return [values] if isinstance(values, str) else [str(value) for value in values]


class TiersField(forms.Field):
    """The rows of a tiers table, stripped, without the rows left empty; the rules judge the rest."""

    widget = TiersWidget

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> list[Tier]:
        return filled_tiers(value)

    def has_changed(self, initial, data) -> bool:
        # Nothing posted (another model is chosen, its section is not sent) is no change either.
        typed = filled_tiers(data)
        return bool(typed) and typed != filled_tiers(initial)


def _amount_input(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


def _count_input(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


@dataclass(frozen=True)
class TierCell:
    name: str  # the posted name, shared by the cells of one column
    cell: str
    label: str
    value: str
    error: str | None
    error_id: str


@dataclass(frozen=True)
class TierRow:
    number: int
    cells: list[TierCell]
    spare: bool = False  # a blank row to type a new tier in when the page runs no script


SPARE_TIERS = 2


class ChargeForm(forms.Form):
    """One charge of a plan: its metric, its charge model and, for each model, the inputs of its
    pricing terms. Only the chosen model's inputs are read; they make the `properties` the API takes,
    and the charge model rules (the plan service's) judge them, each refusal next to its input."""

    id = forms.CharField(required=False, widget=forms.HiddenInput)
    billable_metric_id = forms.ChoiceField(label="Billable metric")
    charge_model = forms.ChoiceField(
        label="Charge model",
        choices=[(model, CHARGE_MODEL_LABELS[model]) for model in CHARGE_MODELS],
        initial="standard",
        widget=forms.Select(attrs={"data-charge-model": True}),
    )
    # Standard
    amount = _amount_input("Price per unit")
    # Package
    package_amount = _amount_input("Price per package")
    package_size = _count_input("Units per package")
    free_units = _count_input("Free units", "Units of each period that are not charged. Empty: none.")
    # Percentage
    rate = _amount_input("Rate (%)", "Of the aggregated amount, such as 1.5.")
    fixed_amount = _amount_input("Fixed fee per transaction", "Added for each event. Empty: none.")
    free_units_per_events = _count_input(
        "Free transactions", "The first events of each period pay nothing. Empty: none."
    )
    free_units_per_total_aggregation = _amount_input(
        "Free amount", "This much of each period's aggregated amount is free, such as 500. Empty: none."
    )
    per_transaction_min_amount = _amount_input("Minimum fee per transaction", "Empty: no minimum.")
    per_transaction_max_amount = _amount_input("Maximum fee per transaction", "Empty: no maximum.")
    # Graduated and volume
    tiers = TiersField(initial=starting_tiers())
    # Any model
    pricing_group_keys = forms.CharField(
        label="Pricing group keys",
        required=False,
        help_text="Event properties, separated by commas. Stored with the charge and returned by the API.",
    )
    invoice_display_name = forms.CharField(label="Name on invoices", required=False, empty_value=None, max_length=255)

    def __init__(self, *args, metrics=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics = {str(metric.pk): metric for metric in metrics}
        self.fields["billable_metric_id"].choices = [
            ("", "Choose a metric"),
            *((str(metric.pk), f"{metric.name} ({metric.code})") for metric in metrics),
        ]
        self.tier_cell_errors: dict[tuple[int, str], str] = {}
        self.tier_table_errors: list[str] = []

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("charge_model")
        if not model or cleaned.get("DELETE"):
            return cleaned
        properties = properties_from_fields(model, cleaned)
        # The service's own rules, run per row so that each refusal lands on its row and input.
        _, errors = validate_properties(model, properties)
        placement = place_errors(model, properties, errors)
        for name, messages in placement.fields.items():
            for message in messages:
                self.add_error(name, message)
        for (index, cell), message in sorted(placement.cells.items()):
            self.tier_cell_errors[(index, cell)] = message
            self.add_error("tiers", f"Tier {index + 1}, {TIER_CELL_LABELS[cell].lower()}: {message}")
        for message in placement.table:
            self.tier_table_errors.append(message)
            self.add_error("tiers", message)
        for message in placement.elsewhere:
            self.add_error(None, message)
        metric = self.metrics.get(cleaned.get("billable_metric_id") or "")
        if metric is not None and not charge_model_fits_metric(model, metric):
            self.add_error("charge_model", sentence("invalid_aggregation_type_or_charge_model", resource="plan"))
        cleaned["properties"] = properties
        return cleaned

    def tier_rows(self) -> list[TierRow]:
        """The tiers table as the page shows it: the rows typed (or saved), each cell with its
        refusal, then blank rows for a page without script."""
        bound = self["tiers"]
        rows = filled_tiers(bound.value()) or starting_tiers()
        table = [
            TierRow(number=index + 1, cells=self._tier_cells(bound.html_name, index, row))
            for index, row in enumerate(rows)
        ]
        blank = dict.fromkeys(TIER_CELLS, "")
        for index in range(len(rows), len(rows) + SPARE_TIERS):
            table.append(TierRow(number=index + 1, cells=self._tier_cells(bound.html_name, index, blank), spare=True))
        return table

    def _tier_cells(self, name: str, index: int, row: Tier) -> list[TierCell]:
        return [
            TierCell(
                name=f"{name}-{cell}",
                cell=cell,
                label=TIER_CELL_LABELS[cell],
                value=row[cell],
                error=self.tier_cell_errors.get((index, cell)),
                error_id=f"{name}-{index}-{cell}-error",
            )
            for cell in TIER_CELLS
        ]

    def service_row(self) -> dict:
        return {
            "id": self.cleaned_data.get("id") or None,
            "billable_metric_id": self.cleaned_data["billable_metric_id"],
            "charge_model": self.cleaned_data["charge_model"],
            "properties": self.cleaned_data["properties"],
            "invoice_display_name": self.cleaned_data.get("invoice_display_name"),
        }


class BaseChargeFormSet(forms.BaseFormSet):
    def __init__(self, *args, metrics=(), **kwargs):
        self.metrics = list(metrics)
        super().__init__(*args, **kwargs)

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                # A removed row is hidden on the page: its errors would point at nothing.
                form._errors = forms.utils.ErrorDict()

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "metrics": self.metrics}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            metrics=self.metrics,
            renderer=self.renderer,
        )
        self.add_fields(form, None)
        return form

    def live_forms(self):
        for form in self.forms:
            if form.cleaned_data.get("DELETE"):
                continue
            if not form.has_changed() and not form.cleaned_data.get("id"):
                continue  # a blank row added then left empty
            yield form

    def service_rows(self) -> list[dict]:
        return [form.service_row() for form in self.live_forms()]


ChargeFormSet = forms.formset_factory(
    ChargeForm, formset=BaseChargeFormSet, extra=0, can_delete=True, max_num=50, validate_max=True, absolute_max=100
)


def charge_initial(charge) -> dict:
    """A saved charge as the editor's inputs: its model's terms filled, the other models' left blank."""
    return {
        "id": str(charge.pk),
        "billable_metric_id": str(charge.billable_metric_id),
        "charge_model": charge.charge_model,
        "invoice_display_name": charge.invoice_display_name or "",
        **fields_from_properties(charge.charge_model, charge.properties),
    }
