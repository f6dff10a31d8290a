"""The staff UI's one translator from domain errors to sentences (the API answers the codes instead).

Services raise `billing.errors`: ValidationFailed with `{field: [Lago codes]}`, NotFound and NotAllowed
with one code. Every staff form, view and admin page words them through here, so a code reads the same
everywhere and a new code is worded once.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from billing.errors import DomainError, ValidationFailed

# A code reads the same everywhere unless a more specific key words it for one resource, or for one
# field of one resource: (resource, field, code) wins over (resource, code), which wins over code.
# A sentence may name a fact the caller passes in braces (billing cannot import the apps' limits).
SENTENCES: dict[str | tuple[str, str] | tuple[str, str, str], str] = {
    # Any field.
    "value_is_mandatory": "This field is required.",
    "value_is_invalid": "This value is not valid.",
    "value_is_too_long": "This value is too long.",
    "value_is_out_of_range": "This value is out of range.",
    "value_already_exist": "This value is already used.",
    "value_is_not_editable": "This value can no longer change.",
    # Customers.
    ("customer", "value_already_exist"): "Already used by another customer.",
    ("customer", "value_is_not_editable"): (
        "The external ID cannot change once a plan, coupon, add-on or wallet is assigned."
    ),
    "invalid_timezone": "Unknown timezone: choose an IANA name from the list, such as Europe/Paris.",
    "invalid_email_format": "Enter valid email addresses, separated by commas.",
    "not_a_valid_country_code": "Unknown country.",
    "duplicated_key": "Each metadata key can be used only once.",
    ("customer", "invalid_count"): "A customer can have at most {max_rows} metadata rows.",
    # Deleting a customer twice (a second click, another member meanwhile).
    ("customer_deletion", "customer_not_found"): "This customer was already deleted.",
    # Subscriptions.
    ("subscription", "value_already_exist"): "A live subscription already uses this external ID.",
    "currencies_does_not_match": "The plan's currency differs from the customer's currency.",
    ("subscription", "currencies_does_not_match"): (
        "This plan is priced in {plan_currency} and the customer is billed in {customer_currency}: "
        "choose a plan in {customer_currency}."
    ),
    "invalid_date": "Enter a valid start date.",
    "plan_not_found": "This plan no longer exists: choose another one.",
    # Terminating a subscription that is no longer live.
    ("subscription", "subscription_not_found"): "This subscription has already ended.",
    # Billable metrics.
    ("billable_metric", "value_already_exist"): "Already used by another billable metric.",
    ("billable_metric", "value_is_not_editable"): (
        "Cannot change while a plan charges this metric or once events were counted under it: its past "
        "usage was aggregated with the current value."
    ),
    "billable_metric_in_use": "This metric is charged in a plan: remove the charge from the plans below first.",
    # Plans and their charges (the charge properties: plans/charge_models.py). Amounts are JSON strings,
    # as in Lago's API.
    ("plan", "value_already_exist"): "Already used by another plan.",
    ("plan", "value_is_not_editable"): "Cannot change once the plan has subscriptions: their billing depends on it.",
    ("plan", "amount_cents", "value_is_out_of_range"): "This amount is too large.",
    "billable_metrics_not_found": "A chosen billable metric no longer exists: choose another one.",
    "invalid_amount": 'Enter an amount of 0 or more as a quoted decimal, such as "0.5".',
    "invalid_rate": 'Enter a percentage of 0 or more as a quoted decimal, such as "1.5".',
    "invalid_fixed_amount": 'Enter a fixed amount of 0 or more as a quoted decimal, such as "0.2".',
    "invalid_free_units": "Enter a whole number of free units, 0 or more (not quoted).",
    "invalid_package_size": "Enter a whole number of units per package, 1 or more (not quoted).",
    "invalid_free_units_per_events": "Enter a whole number of free events, 1 or more (not quoted).",
    "invalid_free_units_per_total_aggregation": 'Enter a free amount of 0 or more as a quoted decimal, such as "500".',
    "per_transaction_max_lower_than_per_transaction_min": "The maximum per transaction is below the minimum.",
    "missing_graduated_ranges": "Add at least one range.",
    "missing_volume_ranges": "Add at least one range.",
    "invalid_graduated_ranges": (
        "Ranges must start at 0 (or 1), follow each other without gaps (each from_value is the previous "
        "to_value + 1, or equal to it), use whole numbers, and end with an open range (to_value null)."
    ),
    "invalid_volume_ranges": (
        "Ranges must start at 0 (or 1), each from_value must be the previous to_value + 1, bounds are "
        "whole numbers, and the last range is open (to_value null)."
    ),
    "invalid_type": "Enter a list of non-empty property names.",
    "invalid_aggregation_type_or_charge_model": (
        "The percentage model cannot price a metric aggregated with “latest”: pick another model or metric."
    ),
    # Invoices (actions refused in their current state).
    ("invoice", "invalid_type_or_status"): "Only a draft invoice can be finalized or refreshed.",
    ("invoice", "not_voidable"): "Only a finalized invoice can be voided.",
    # Credit notes.
    ("credit_note", "invalid_type_or_status"): "A credit note can only be issued on a finalized invoice.",
    ("credit_note", "not_voidable"): "Only a credit note with credit still available can be voided.",
    ("credit_note", "value_is_out_of_range"): "Enter an amount of zero or more.",
    ("credit_note", "items", "value_is_mandatory"): "Enter an amount to give back on at least one fee.",
    ("credit_note", "refund_status", "value_is_mandatory"): "Choose a refund status: pending, succeeded or failed.",
    ("credit_note", "refund_status", "value_is_invalid"): "Choose a refund status: pending, succeeded or failed.",
    "fee_not_found": "A fee given back is not on this invoice. Reload the page.",
    "higher_than_remaining_fee_amount": "More than what is left to give back on this fee.",
    "higher_than_remaining_invoice_amount": "More than what is left to give back on this invoice.",
    "cannot_refund_unpaid_invoice": "Refunds are only possible on a paid invoice.",
    "does_not_match_item_amounts": "Credit and refund must add up to the total of the fees given back.",
    "total_amount_must_be_positive": "Enter an amount to give back on at least one fee.",
    "no_refund_amount": "This credit note has no refund.",
    # Coupons (their terms freeze once applied: coupons.services.EDITABLE_WHEN_APPLIED).
    ("coupon", "value_already_exist"): "Already used by another coupon.",
    ("coupon", "amount_cents", "value_is_out_of_range"): "This amount is too large.",
    ("coupon", "percentage_rate", "value_is_invalid"): (
        "Enter a percentage above 0 and up to 100, with at most 5 decimals, such as 12.5."
    ),
    ("coupon", "frequency_duration", "value_is_invalid"): "Enter a number of billing periods from 1 to 10,000.",
    ("coupon", "expiration_at", "invalid_date"): "Choose a day that has not passed yet.",
    "coupon_is_applied": "Cannot change once the coupon has been applied to a customer.",
    "coupon_is_terminated": "This coupon is terminated: it can no longer be edited.",
    "only_plans_or_billable_metrics": "Limit the coupon to plans or to billable metrics, not both.",
    "plans_not_found": "A chosen plan no longer exists: choose another one.",
    # Add-ons.
    ("add_on", "value_already_exist"): "Already used by another add-on.",
    ("add_on", "amount_cents", "value_is_out_of_range"): "This amount is too large.",
    # Applying a coupon to a customer (its terms are overridden with the coupon's own fields).
    ("coupon", "coupon_not_found"): "This coupon was terminated or deleted meanwhile: choose another one.",
    ("coupon", "frequency_duration", "value_is_mandatory"): "A recurring coupon needs a number of billing periods.",
    ("coupon", "currencies_does_not_match"): (
        "The customer is billed in another currency: choose the customer's currency for this amount."
    ),
    "coupon_is_not_reusable": "This coupon applies once per customer, and this customer already had it.",
    "plan_overlapping": (
        "Another active coupon of this customer already covers one of this coupon's plans or metrics: "
        "terminate it first."
    ),
    # Applying add-ons (a one-off invoice).
    ("one_off_invoice", "units", "value_is_invalid"): "Enter a number of units above 0.",
    ("one_off_invoice", "units", "value_is_out_of_range"): "Units × unit amount is too large.",
    ("one_off_invoice", "unit_amount_cents", "value_is_invalid"): "This unit amount is too large.",
    ("one_off_invoice", "currencies_does_not_match"): "The invoice must be in the customer's currency.",
    ("one_off_invoice", "add_on_not_found"): "An add-on was deleted meanwhile: choose another one.",
    ("one_off_invoice", "fees_not_found"): "Choose at least one add-on.",
    # Wallets and their credits.
    ("wallet", "invalid_amount"): "Enter a number of credits of 0 or more, with at most 5 decimals.",
    ("wallet", "rate_amount", "value_is_invalid"): (
        "Enter the value of one credit: a number above 0 with at most 15 decimals, such as 1 or 0.25."
    ),
    ("wallet", "currencies_does_not_match"): "A wallet is in the customer's currency.",
    ("wallet", "expiration_at", "invalid_date"): "Choose a day that has not passed yet.",
    "wallet_already_exists": "This customer already has an active wallet: top it up, or terminate it first.",
    "wallet_is_terminated": "This wallet is terminated: its credits can no longer change.",
    "insufficient_credits": "More credits than the wallet holds.",
    # Webhook endpoints (the URL rule: webhooks/addresses.py; the limit: webhooks.models).
    "invalid_url": "Enter an http:// or https:// URL with a host name, such as https://example.com/webhooks.",
    "url_not_allowed": (
        "This URL does not resolve, or resolves to a loopback, private or link-local address: webhooks are "
        "only sent to public addresses unless the server allows private ones (WEBHOOKS_ALLOW_PRIVATE_URLS)."
    ),
    ("webhook_endpoint", "webhook_url", "value_already_exist"): "Another endpoint already uses this URL.",
    ("webhook_endpoint", "signature_algo", "value_is_invalid"): "Choose JWT or HMAC.",
    ("webhook_endpoint", "event_types", "value_is_invalid"): "Choose event types from the list.",
    "webhook_endpoints_limit_reached": (
        "The organization has as many webhook endpoints as allowed: delete one to add another."
    ),
}

# How a sentence away from its field names the field, where the field's own name reads badly.
FIELD_LABELS = {
    "invoice_display_name": "Name on invoices",
    "amount_cents": "Amount",
    "unit_amount_cents": "Unit amount",
    "add_on_code": "Add-on",
}


@dataclass(frozen=True)
class Sentence:
    field: str | None  # the service's field; None when the whole action is refused (NotFound, NotAllowed)
    code: str
    text: str

    @property
    def labelled(self) -> str:
        """The sentence headed by its field's name, for a place away from the field."""
        if self.field in (None, "base"):
            return self.text
        label = FIELD_LABELS.get(self.field, self.field.replace("_", " ").capitalize())
        return f"{label}: {self.text}"


def sentence(code: str, *, resource: str, field: str | None = None, facts: Mapping[str, object] | None = None) -> str:
    """The words for one code raised about `resource` (Lago's name: "customer", "plan"...)."""
    for key in ((resource, field, code), (resource, code), code):
        if key in SENTENCES:
            text = SENTENCES[key]
            return text.format_map(facts) if facts else text
    # A code nobody worded yet still reads as words rather than as an identifier.
    return code.replace("_", " ").capitalize() + "."


def sentences(error: DomainError, *, resource: str, facts: Mapping[str, object] | None = None) -> list[Sentence]:
    """Every sentence of a domain error, each with the field it concerns."""
    if isinstance(error, ValidationFailed):
        return [
            Sentence(field, code, sentence(code, resource=resource, field=field, facts=facts))
            for field, codes in error.details.items()
            for code in codes
        ]
    code = error.code
    return [Sentence(None, code, sentence(code, resource=resource, facts=facts))]


def error_message(error: DomainError, *, resource: str) -> str:
    """A domain error as one message, for a view's flash message or a page's error line."""
    return " ".join(item.text for item in sentences(error, resource=resource))


def add_form_errors(
    form,
    error: DomainError,
    *,
    resource: str,
    fields: Mapping[str, str] | None = None,
    elsewhere: Collection[str] = (),
    lock_reason: str | None = None,
    facts: Mapping[str, object] | None = None,
) -> list[Sentence]:
    """Attach a domain error to a Django form: each sentence next to its field, the rest as non-field errors.

    A service field lands on the form field of the same name, or the one `fields` maps it to. The
    sentences of the service fields in `elsewhere` are returned instead, for the caller to show where
    they belong (a formset, a row). A form that shows a field locked passes its `lock_reason`, and the
    refusal of a change to that field repeats it.
    """
    fields = fields or {}
    kept: list[Sentence] = []
    for item in sentences(error, resource=resource, facts=facts):
        if item.field in elsewhere:
            kept.append(item)
            continue
        if item.code == "value_is_not_editable" and lock_reason:
            item = Sentence(item.field, item.code, lock_reason)
        name = fields.get(item.field, item.field)
        if name in form.fields:
            form.add_error(name, item.text)
        else:
            form.add_error(None, item.labelled)
    return kept
