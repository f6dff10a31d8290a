"""Lago's /api/v1/invoices: shapes, filters, actions, errors and tenancy."""

import uuid
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from events.tests.factories import send_events
from invoicing import services
from invoicing.customer_deletion import delete_customer
from invoicing.lifecycle import update_invoice, void_invoice
from invoicing.models import Invoice
from plans.subscription_periods import period_of
from plans.tests.factories import BillableMetricFactory, ChargeFactory, PlanFactory, SubscriptionFactory

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)

INVOICE_REQUIRED_INTS = [
    "net_payment_term",
    "version_number",
    "fees_amount_cents",
    "coupons_amount_cents",
    "taxes_amount_cents",
    "credit_notes_amount_cents",
    "progressive_billing_credit_amount_cents",
    "sub_total_excluding_taxes_amount_cents",
    "sub_total_including_taxes_amount_cents",
    "total_amount_cents",
    "total_due_amount_cents",
    "prepaid_credit_amount_cents",
]


@pytest.fixture(autouse=True)
def frozen_clock():
    # Ticking, so that invoices made one after the other are ordered by their creation.
    with time_machine.travel(NOW, tick=True):
        yield


def billed_invoice(organization, *, customer=None, grace=0, units=(2, 3), external_id=None) -> Invoice:
    """A January invoice of a 100.00 EUR monthly plan with a charge of 1.00 per unit, billed on
    Feb 1 through the billing services: drafted when the grace period is > 0, else finalized."""
    customer = customer or CustomerFactory(organization=organization, invoice_grace_period=grace)
    plan = PlanFactory(organization=organization, amount_cents=10000, amount_currency="EUR")
    metric = BillableMetricFactory(organization=organization, code=f"calls_{uuid.uuid4().hex[:6]}", name="API calls")
    ChargeFactory(plan=plan, billable_metric=metric, properties={"amount": "1"})
    subscription = SubscriptionFactory(
        customer=customer,
        plan=plan,
        subscription_at=START,
        started_at=START,
        **({"external_id": external_id} if external_id else {}),
    )
    send_events(
        subscription,
        [
            (metric.code, datetime(2026, 1, 10 + index, tzinfo=UTC), {"units": value})
            for index, value in enumerate(units)
        ],
    )
    invoice = services.bill_subscription(
        subscription=subscription,
        reason="subscription_periodic",
        period=period_of(subscription, datetime(2026, 1, 15, tzinfo=UTC)),
        at=NOW,
    )
    assert invoice is not None
    return invoice


def void(api, invoice_id, body=None):
    """POST …/void as Lago's client does: a JSON content type, and no body unless options are given."""
    if body is not None:
        return api.post(f"/api/v1/invoices/{invoice_id}/void", body)
    return api.client.post(f"/api/v1/invoices/{invoice_id}/void", headers=api.headers, content_type="application/json")


@pytest.fixture
def draft(organization):
    customer = CustomerFactory(organization=organization, external_id="cust_draft", invoice_grace_period=3)
    return billed_invoice(organization, customer=customer)


@pytest.fixture
def finalized(organization):
    customer = CustomerFactory(organization=organization, external_id="cust_final", invoice_grace_period=0)
    return billed_invoice(organization, customer=customer)


# Shapes -----------------------------------------------------------------------------------------


def test_a_finalized_invoice_in_lagos_shape(api, finalized):
    response = api.get(f"/api/v1/invoices/{finalized.pk}")
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["lago_id"] == str(finalized.pk)
    assert body["number"] == "ACME-000001" and body["sequential_id"] == 1
    assert body["status"] == "finalized" and body["payment_status"] == "pending"
    assert body["invoice_type"] == "subscription" and body["currency"] == "EUR"
    assert body["issuing_date"] == "2026-02-01" and body["payment_due_date"] == "2026-02-01"
    assert body["payment_overdue"] is False and body["version_number"] == 4 and body["net_payment_term"] == 0
    for key in INVOICE_REQUIRED_INTS:
        assert isinstance(body[key], int), key
    assert body["fees_amount_cents"] == 10500
    assert body["sub_total_excluding_taxes_amount_cents"] == 10500
    assert body["sub_total_including_taxes_amount_cents"] == 10500
    assert body["total_amount_cents"] == 10500 and body["total_due_amount_cents"] == 10500
    assert body["total_paid_amount_cents"] == 0
    assert body["customer"]["external_id"] == "cust_final"
    assert body["customer"]["applicable_timezone"] == "UTC"
    assert body["metadata"] == [] and body["applied_taxes"] == [] and body["credits"] == []

    [period] = body["billing_periods"]
    assert period == {
        "lago_subscription_id": period["lago_subscription_id"],
        "external_subscription_id": period["external_subscription_id"],
        "lago_plan_id": period["lago_plan_id"],
        "subscription_from_datetime": "2026-01-01T00:00:00Z",
        "subscription_to_datetime": "2026-01-31T23:59:59Z",
        "charges_from_datetime": "2026-01-01T00:00:00Z",
        "charges_to_datetime": "2026-01-31T23:59:59Z",
        "fixed_charges_from_datetime": None,
        "fixed_charges_to_datetime": None,
        "invoicing_reason": "subscription_periodic",
    }
    assert [s["lago_id"] for s in body["subscriptions"]] == [period["lago_subscription_id"]]

    fees = {fee["item"]["type"]: fee for fee in body["fees"]}
    assert set(fees) == {"subscription", "charge"}
    charge = fees["charge"]
    assert charge["amount_cents"] == 500 and charge["amount_currency"] == "EUR"
    assert charge["units"] == "5.0" and charge["events_count"] == 2
    assert charge["item"]["name"] == "API calls" and charge["item"]["code"].startswith("calls_")
    assert charge["from_date"] == "2026-01-01T00:00:00Z" and charge["to_date"] == "2026-01-31T23:59:59Z"
    assert charge["lago_invoice_id"] == str(finalized.pk)
    assert charge["external_customer_id"] == "cust_final"
    subscription_fee = fees["subscription"]
    assert subscription_fee["amount_cents"] == 10000 and subscription_fee["units"] == "1.0"
    assert subscription_fee["external_subscription_id"] == period["external_subscription_id"]


def test_a_draft_shows_a_provisional_number(api, draft):
    body = api.get(f"/api/v1/invoices/{draft.pk}").json()["invoice"]
    assert body["status"] == "draft"
    assert body["number"] == "ACME-DRAFT" and body["sequential_id"] is None
    assert body["total_amount_cents"] == 10500


def test_list_is_newest_first_with_customer_and_meta(api, organization, draft, finalized):
    response = api.get("/api/v1/invoices")
    assert response.status_code == 200
    body = response.json()
    assert [invoice["lago_id"] for invoice in body["invoices"]] == [str(finalized.pk), str(draft.pk)]
    assert body["meta"] == {"current_page": 1, "next_page": None, "prev_page": None, "total_pages": 1, "total_count": 2}
    assert body["invoices"][0]["customer"]["external_id"] == "cust_final"
    assert "fees" not in body["invoices"][0]  # as in Lago, the list leaves fees out


def test_list_pages(api, organization):
    invoices = [billed_invoice(organization) for _ in range(3)]
    body = api.get("/api/v1/invoices", per_page=2, page=2).json()
    assert [invoice["lago_id"] for invoice in body["invoices"]] == [str(invoices[0].pk)]
    assert body["meta"]["current_page"] == 2 and body["meta"]["total_count"] == 3


def test_empty_list_has_lagos_meta(api):
    body = api.get("/api/v1/invoices").json()
    assert body == {
        "invoices": [],
        "meta": {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0},
    }


# Filters ----------------------------------------------------------------------------------------


def ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {invoice["lago_id"] for invoice in response.json()["invoices"]}


def test_filters(api, organization, draft, finalized):
    update_invoice(invoice=finalized, payment_status="succeeded")
    assert ids(api.get("/api/v1/invoices", external_customer_id="cust_draft")) == {str(draft.pk)}
    assert ids(api.get("/api/v1/invoices", external_customer_id="unknown")) == set()
    assert ids(api.get("/api/v1/invoices", status="draft")) == {str(draft.pk)}
    assert ids(api.get("/api/v1/invoices", status="finalized")) == {str(finalized.pk)}
    assert ids(api.get("/api/v1/invoices", **{"statuses[]": ["draft", "finalized"]})) == {
        str(draft.pk),
        str(finalized.pk),
    }
    assert ids(api.get("/api/v1/invoices", payment_status="succeeded")) == {str(finalized.pk)}
    assert ids(api.get("/api/v1/invoices", payment_status="pending")) == {str(draft.pk)}
    assert ids(api.get("/api/v1/invoices", invoice_type="subscription")) == {str(draft.pk), str(finalized.pk)}
    assert ids(api.get("/api/v1/invoices", invoice_type="one_off")) == set()


@pytest.mark.parametrize("param", ["status", "payment_status", "invoice_type"])
def test_unknown_filter_values_are_422(api, param):
    response = api.get("/api/v1/invoices", **{param: "bogus"})
    assert response.status_code == 422
    assert response.json()["error_details"] == {param: ["value_is_invalid"]}


def test_a_deleted_customers_invoices_still_answer_and_the_filter_means_the_live_customer(api, organization):
    old = CustomerFactory(organization=organization, external_id="reused")
    old_invoice = billed_invoice(organization, customer=old)
    delete_customer(customer=old)
    assert api.get(f"/api/v1/invoices/{old_invoice.pk}").status_code == 200
    assert ids(api.get("/api/v1/invoices")) == {str(old_invoice.pk)}
    # Issue 12: the filter still finds them while no new customer has taken the id...
    assert ids(api.get("/api/v1/invoices", external_customer_id="reused")) == {str(old_invoice.pk)}
    new = CustomerFactory(organization=organization, external_id="reused")
    new_invoice = billed_invoice(organization, customer=new)
    # ...and once one has, it means the live customer only (API-SCOPE).
    assert ids(api.get("/api/v1/invoices", external_customer_id="reused")) == {str(new_invoice.pk)}


def test_list_costs_a_fixed_number_of_queries(api, organization, django_assert_max_num_queries):
    for _ in range(2):
        customer = billed_invoice(organization).customer
        CustomerMetadataFactory(customer=customer)
    with django_assert_max_num_queries(6) as few:
        api.get("/api/v1/invoices")
    for _ in range(5):
        customer = billed_invoice(organization).customer
        CustomerMetadataFactory(customer=customer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = api.get("/api/v1/invoices").json()
    assert len(body["invoices"]) == 7


def test_show_costs_a_fixed_number_of_queries(api, organization):
    small = billed_invoice(organization, units=(1,))
    with CaptureQueriesContext(connection) as first:
        assert api.get(f"/api/v1/invoices/{small.pk}").status_code == 200
    big = billed_invoice(organization, units=(1, 2, 3, 4, 5, 6))
    CustomerMetadataFactory(customer=big.customer)
    CustomerMetadataFactory(customer=big.customer)
    with CaptureQueriesContext(connection) as second:
        assert api.get(f"/api/v1/invoices/{big.pk}").status_code == 200
    assert len(second.captured_queries) == len(first.captured_queries) <= 8


# Actions ----------------------------------------------------------------------------------------


def test_finalize_a_draft_gives_it_the_next_number(api, draft, finalized):
    response = api.put(f"/api/v1/invoices/{draft.pk}/finalize")
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["status"] == "finalized" and body["number"] == "ACME-000002"


def test_finalize_or_refresh_anything_but_a_draft_is_405(api, finalized):
    for action in ("finalize", "refresh"):
        response = api.put(f"/api/v1/invoices/{finalized.pk}/{action}")
        assert response.status_code == 405
        assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "invalid_type_or_status"}


def test_refresh_a_draft_recomputes_it_from_the_current_events(api, organization, draft):
    link = draft.invoice_subscriptions.get()
    charge_fee = draft.fees.get(fee_type="charge")
    send_events(
        link.subscription, [(charge_fee.charge.billable_metric.code, datetime(2026, 1, 30, tzinfo=UTC), {"units": 10})]
    )
    response = api.put(f"/api/v1/invoices/{draft.pk}/refresh")
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["status"] == "draft" and body["fees_amount_cents"] == 11500
    assert {fee["units"] for fee in body["fees"] if fee["item"]["type"] == "charge"} == {"15.0"}


def test_void_a_finalized_invoice(api, finalized):
    response = void(api, finalized.pk)
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["status"] == "voided" and body["voided_at"] is not None
    assert body["number"] == "ACME-000001" and body["total_due_amount_cents"] == 0
    again = void(api, finalized.pk)
    assert again.status_code == 405 and again.json()["code"] == "not_voidable"


def test_void_a_draft_is_405(api, draft):
    response = void(api, draft.pk)
    assert response.status_code == 405 and response.json()["code"] == "not_voidable"
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


def test_void_options_we_do_not_offer_are_refused(api, finalized):
    response = void(api, finalized.pk, {"generate_credit_note": True})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"generate_credit_note": ["not_supported"]}
    assert void(api, finalized.pk, {"generate_credit_note": False}).status_code == 200


def test_update_payment_status(api, finalized):
    response = api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"payment_status": "succeeded"}})
    assert response.status_code == 200
    body = response.json()["invoice"]
    assert body["payment_status"] == "succeeded"
    assert body["total_due_amount_cents"] == 0 and body["total_paid_amount_cents"] == 10500
    back = api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"payment_status": "failed"}}).json()["invoice"]
    assert back["payment_status"] == "failed" and back["total_due_amount_cents"] == 10500


def test_update_errors(api, finalized):
    bad = api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"payment_status": "paid"}})
    assert bad.status_code == 422 and bad.json()["error_details"] == {"payment_status": ["value_is_invalid"]}
    assert api.put(f"/api/v1/invoices/{finalized.pk}", {"payment_status": "succeeded"}).status_code == 400
    # Invoice metadata has nowhere to be stored: refused, never reported as saved.
    metadata = api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"metadata": [{"key": "k", "value": "v"}]}})
    assert metadata.status_code == 422 and metadata.json()["error_details"] == {"metadata": ["not_supported"]}
    unknown = api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"payment_statu": "succeeded"}})
    assert unknown.status_code == 422 and unknown.json()["error_details"] == {"payment_statu": ["unknown_field"]}
    assert Invoice.objects.get(pk=finalized.pk).payment_status == "pending"


def test_update_a_voided_invoice_is_405(api, finalized):
    void_invoice(invoice=finalized)
    response = api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"payment_status": "succeeded"}})
    assert response.status_code == 405
    assert response.json() == {"status": 405, "error": "Method Not Allowed", "code": "update_on_voided_invoice"}


# Errors and tenancy -----------------------------------------------------------------------------


NOT_FOUND = {"status": 404, "error": "Not Found", "code": "invoice_not_found"}


@pytest.mark.parametrize("lago_id", [str(uuid.UUID(int=1)), "not-a-uuid", "12345", "%00"])
def test_unknown_or_malformed_ids_are_404(api, lago_id):
    assert api.get(f"/api/v1/invoices/{lago_id}").json() == NOT_FOUND
    assert api.put(f"/api/v1/invoices/{lago_id}/finalize").json() == NOT_FOUND
    assert api.put(f"/api/v1/invoices/{lago_id}/refresh").json() == NOT_FOUND
    assert void(api, lago_id).json() == NOT_FOUND
    response = api.put(f"/api/v1/invoices/{lago_id}", {"invoice": {"payment_status": "succeeded"}})
    assert response.status_code == 404 and response.json() == NOT_FOUND


def test_another_organizations_invoice_is_404(other_api, draft, finalized):
    assert other_api.get(f"/api/v1/invoices/{finalized.pk}").json() == NOT_FOUND
    assert other_api.put(f"/api/v1/invoices/{draft.pk}/finalize").status_code == 404
    assert void(other_api, finalized.pk).status_code == 404
    assert (
        other_api.put(f"/api/v1/invoices/{finalized.pk}", {"invoice": {"payment_status": "failed"}}).status_code == 404
    )
    assert other_api.get("/api/v1/invoices").json()["invoices"] == []
    assert Invoice.objects.get(pk=draft.pk).status == "draft"
    assert Invoice.objects.get(pk=finalized.pk).status == "finalized"


def test_without_a_key_every_endpoint_is_401(client, finalized):
    for method, path in [
        ("get", "/api/v1/invoices"),
        ("get", f"/api/v1/invoices/{finalized.pk}"),
        ("put", f"/api/v1/invoices/{finalized.pk}"),
        ("put", f"/api/v1/invoices/{finalized.pk}/finalize"),
        ("put", f"/api/v1/invoices/{finalized.pk}/refresh"),
        ("post", f"/api/v1/invoices/{finalized.pk}/void"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 401 and response.json() == {"status": 401, "error": "Unauthorized"}


def test_the_schema_documents_the_invoice_endpoints(client):
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    operations = {
        operation["operationId"]
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/invoices")
        for operation in item.values()
    }
    assert operations >= {
        "list_invoices",
        "get_invoice",
        "update_invoice",
        "finalize_invoice",
        "refresh_invoice",
        "void_invoice",
    }
