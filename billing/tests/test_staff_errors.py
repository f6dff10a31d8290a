"""The staff UI's one translator from domain errors to sentences (billing.staff_errors)."""

from django import forms

from billing.errors import NotAllowed, NotFound, ValidationFailed
from billing.staff_errors import SENTENCES, add_form_errors, error_message, sentence
from customers.forms import CUSTOMER_FACTS
from customers.models import METADATA_MAX_ROWS


class PlanLikeForm(forms.Form):
    name = forms.CharField()
    amount = forms.CharField()


def bound_form() -> PlanLikeForm:
    form = PlanLikeForm({"name": "Pro", "amount": "1"})
    assert form.is_valid()
    return form


def test_a_code_reads_the_same_unless_a_resource_or_a_field_words_it_otherwise():
    assert sentence("value_is_mandatory", resource="plan") == "This field is required."
    assert sentence("value_already_exist", resource="plan") == "Already used by another plan."
    assert sentence("value_already_exist", resource="customer") == "Already used by another customer."
    assert sentence("value_is_out_of_range", resource="plan", field="amount_cents") == "This amount is too large."
    assert sentence("value_is_out_of_range", resource="plan", field="trial_period") == "This value is out of range."
    assert sentence("not_voidable", resource="invoice") != sentence("not_voidable", resource="credit_note")


def test_a_code_nobody_worded_still_reads_as_words():
    assert sentence("some_new_rule", resource="plan") == "Some new rule."


def test_a_sentence_names_the_limit_its_caller_passes():
    text = sentence("invalid_count", resource="customer", facts=CUSTOMER_FACTS)
    assert text == f"A customer can have at most {METADATA_MAX_ROWS} metadata rows."


# The facts each caller passes: the customer forms their limits, the plan assignment its currencies.
CALLERS_FACTS = {**CUSTOMER_FACTS, "plan_currency": "USD", "customer_currency": "EUR"}


def test_every_sentence_reads_with_the_facts_callers_pass():
    for text in SENTENCES.values():
        assert "{" not in text.format_map(CALLERS_FACTS)


def test_field_errors_go_next_to_their_field_and_the_rest_above_the_form():
    form = bound_form()
    error = ValidationFailed(
        {
            "name": ["value_already_exist"],
            "amount_cents": ["value_is_out_of_range"],
            "invoice_display_name": ["value_is_invalid"],
            "base": ["total_amount_must_be_positive"],
        }
    )
    kept = add_form_errors(form, error, resource="plan", fields={"amount_cents": "amount"})
    assert kept == []
    assert form.errors["name"] == ["Already used by another plan."]
    assert form.errors["amount"] == ["This amount is too large."]
    assert form.non_field_errors() == [
        "Name on invoices: This value is not valid.",
        "Enter an amount to give back on at least one fee.",
    ]


def test_fields_shown_elsewhere_are_handed_back_with_their_code():
    form = bound_form()
    kept = add_form_errors(
        form, ValidationFailed({"metadata": ["duplicated_key"]}), resource="customer", elsewhere={"metadata"}
    )
    assert [(item.field, item.code, item.text) for item in kept] == [
        ("metadata", "duplicated_key", "Each metadata key can be used only once.")
    ]
    assert not form.errors


def test_a_refused_action_is_a_non_field_error_and_a_view_message():
    form = bound_form()
    add_form_errors(form, NotFound("billable_metrics"), resource="plan")
    assert form.non_field_errors() == ["A chosen billable metric no longer exists: choose another one."]
    refusal = NotAllowed("not_voidable")
    assert error_message(refusal, resource="invoice") == "Only a finalized invoice can be voided."
    assert error_message(refusal, resource="credit_note").startswith("Only a credit note with credit still")


def test_a_locked_field_is_refused_with_the_reason_the_form_shows():
    form = bound_form()
    reason = "The external ID cannot change: this customer already has a subscription."
    add_form_errors(
        form, ValidationFailed({"name": ["value_is_not_editable"]}), resource="customer", lock_reason=reason
    )
    assert form.errors["name"] == [reason]
