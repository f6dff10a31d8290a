"""The endpoints read their bodies by the one convention (billing/api/input.py): undeclared keys and
wrong JSON types are refused at every level of a body, before any service runs; rules, and the 404s of
ids a service looks up, stay the services'."""

import pytest

from invoicing.models import CreditNote
from invoicing.tests.test_fee_payload import bill, frozen_clock  # noqa: F401 (autouse fixture)
from plans.models import Plan, Subscription
from plans.tests.factories import BillableMetricFactory, PlanFactory

CREDIT_NOTES = "/api/v1/credit_notes"


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


@pytest.fixture
def invoice(organization):
    return bill(organization)[0]


def credit_note(invoice, **fields) -> dict:
    fee = invoice.fees.order_by("-amount_cents").first()
    return {
        "credit_note": {
            "invoice_id": str(invoice.pk),
            "reason": "other",
            "credit_amount_cents": 100,
            "items": [{"fee_id": str(fee.pk), "amount_cents": 100}],
            **fields,
        }
    }


# Credit notes ---------------------------------------------------------------------------------


def test_a_credit_note_item_with_an_unknown_key_is_refused(api, invoice):
    body = credit_note(invoice)
    body["credit_note"]["items"][0]["colour"] = "red"
    assert errors_of(api.post(CREDIT_NOTES, body)) == {"colour": ["unknown_field"]}
    estimate = {"credit_note": {"invoice_id": str(invoice.pk), "items": body["credit_note"]["items"]}}
    assert errors_of(api.post(f"{CREDIT_NOTES}/estimate", estimate)) == {"colour": ["unknown_field"]}
    assert not CreditNote.objects.exists()


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"invoice_id": {"id": "x"}}, {"invoice_id": ["value_is_invalid"]}),
        ({"items": [None]}, {"items": ["value_is_mandatory"]}),
        ({"items": {"fee_id": "x"}}, {"items": ["value_is_invalid"]}),
        ({"refund_amount_cents": 1.0}, {"refund_amount_cents": ["value_is_invalid"]}),
        ({"reason": 3}, {"reason": ["value_is_invalid"]}),
        # Text the database cannot store is a 422, not a failed insert.
        ({"description": "nul\x00inside"}, {"description": ["value_is_invalid"]}),
    ],
)
def test_credit_note_bodies_of_the_wrong_shape_are_422(api, invoice, fields, details):
    assert errors_of(api.post(CREDIT_NOTES, credit_note(invoice, **fields))) == details
    assert not CreditNote.objects.exists()


def test_the_services_lookups_keep_their_404s(api, invoice):
    # The ids are text for the schema: whether they name a row is the service's question.
    malformed_fee = credit_note(invoice)
    malformed_fee["credit_note"]["items"][0]["fee_id"] = "not-a-uuid"
    response = api.post(CREDIT_NOTES, malformed_fee)
    assert response.status_code == 404 and response.json()["code"] == "fee_not_found"
    response = api.post(CREDIT_NOTES, credit_note(invoice, invoice_id="not-a-uuid"))
    assert response.status_code == 404 and response.json()["code"] == "invoice_not_found"


def test_a_credit_note_update_takes_only_the_refund_status(api, invoice):
    note = api.post(CREDIT_NOTES, credit_note(invoice)).json()["credit_note"]
    url = f"{CREDIT_NOTES}/{note['lago_id']}"
    assert errors_of(api.put(url, {"credit_note": {"refund_status": "succeeded", "metadata": {"k": "v"}}})) == {
        "metadata": ["not_supported"]
    }
    assert errors_of(api.put(url, {"credit_note": {"refund_state": "succeeded"}})) == {
        "refund_state": ["unknown_field"]
    }
    # The rules are the service's: this note refunds nothing.
    assert errors_of(api.put(url, {"credit_note": {"refund_status": "succeeded", "metadata": {}}})) == {
        "refund_status": ["no_refund_amount"]
    }


# Invoices -------------------------------------------------------------------------------------


def test_void_options_pass_only_with_their_neutral_value(api, invoice):
    url = f"/api/v1/invoices/{invoice.pk}/void"
    assert errors_of(api.post(url, ["generate_credit_note"])) == {"base": ["value_is_invalid"]}
    assert errors_of(api.post(url, {"refund_amount": 100})) == {"refund_amount": ["not_supported"]}
    assert errors_of(api.post(url, {"reason": "x"})) == {"reason": ["unknown_field"]}
    response = api.post(url, {"generate_credit_note": False, "refund_amount": 0, "credit_amount": None})
    assert response.status_code == 200 and response.json()["invoice"]["status"] == "voided"


def test_an_invoice_update_checks_types_and_leaves_choices_to_the_service(api, invoice):
    url = f"/api/v1/invoices/{invoice.pk}"
    assert errors_of(api.put(url, {"invoice": {"payment_status": ["succeeded"]}})) == {
        "payment_status": ["value_is_invalid"]
    }
    assert errors_of(api.put(url, {"invoice": {"payment_status": "paid"}})) == {"payment_status": ["value_is_invalid"]}


# Plans and subscriptions ----------------------------------------------------------------------


def plan_body(metric, **charge_fields) -> dict:
    charge = {"billable_metric_id": str(metric.pk), "charge_model": "standard", "properties": {"amount": "1"}}
    return {
        "plan": {
            "name": "Startup",
            "code": "startup",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "charges": [{**charge, **charge_fields}],
        }
    }


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"colour": "red"}, {"colour": ["unknown_field"]}),
        ({"pay_in_advance": True}, {"pay_in_advance": ["not_supported"]}),
        ({"properties": "1"}, {"properties": ["value_is_invalid"]}),
    ],
)
def test_a_charge_is_read_by_the_same_rules_as_its_plan(api, organization, fields, details):
    metric = BillableMetricFactory(organization=organization)
    assert errors_of(api.post("/api/v1/plans", plan_body(metric, **fields))) == details
    assert not Plan.objects.exists()


def test_neutral_lago_options_of_a_charge_pass(api, organization):
    metric = BillableMetricFactory(organization=organization)
    response = api.post("/api/v1/plans", plan_body(metric, pay_in_advance=False, invoiceable=True, filters=[]))
    assert response.status_code == 200, response.content


def test_a_charge_without_a_metric_is_the_services_404_as_in_lago(api, organization):
    metric = BillableMetricFactory(organization=organization)
    body = plan_body(metric)
    del body["plan"]["charges"][0]["billable_metric_id"]
    response = api.post("/api/v1/plans", body)
    assert response.status_code == 404 and response.json()["code"] == "billable_metrics_not_found"


def test_amounts_in_minor_units_are_json_integers(api, organization):
    metric = BillableMetricFactory(organization=organization)
    body = plan_body(metric)
    body["plan"]["amount_cents"] = "1000"
    assert errors_of(api.post("/api/v1/plans", body)) == {"amount_cents": ["value_is_invalid"]}


def test_a_subscription_start_without_an_offset_is_utc(api, organization):
    PlanFactory(organization=organization, code="startup")
    body = {
        "subscription": {
            "external_customer_id": "cust_1",
            "plan_code": "startup",
            "external_id": "sub_1",
            "subscription_at": "2026-03-01T00:00:00",
        }
    }
    response = api.post("/api/v1/subscriptions", body)
    assert response.status_code == 200, response.content
    assert response.json()["subscription"]["subscription_at"] == "2026-03-01T00:00:00Z"
    assert Subscription.objects.get().status == "pending"
