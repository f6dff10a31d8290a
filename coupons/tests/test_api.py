"""Coupons and applied coupons through Lago's v1 endpoints: shapes, every refusal rule (a clear 4xx
in Lago's error format that changes nothing), filters, tenancy, and the coupons an invoice shows."""

import json
from datetime import UTC
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coupons.api import (
    AppliedCouponOutput,
    AppliedCouponWithCreditsOutput,
    CouponOutput,
    CreditOutput,
    applied_coupon_payload,
    coupon_credit_payload,
    coupon_payload,
)
from coupons.models import AppliedCoupon, Coupon
from coupons.services import terminate_coupon
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from invoicing.customer_deletion import delete_customer
from invoicing.models import CouponCredit
from invoicing.tests.test_invoices_api import billed_invoice, frozen_clock  # noqa: F401 (autouse fixture)
from plans.tests.factories import BillableMetricFactory, PlanFactory

COUPONS = "/api/v1/coupons"
APPLIED = "/api/v1/applied_coupons"


def coupon_body(**fields) -> dict:
    return {
        "coupon": {
            "name": "Startup deal",
            "code": "startup",
            "coupon_type": "fixed_amount",
            "amount_cents": 5000,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
            **fields,
        }
    }


def create_coupon(api, **fields) -> dict:
    response = api.post(COUPONS, coupon_body(**fields))
    assert response.status_code == 200, response.content
    return response.json()["coupon"]


def apply(api, customer, code="startup", **overrides):
    body = {"applied_coupon": {"external_customer_id": customer.external_id, "coupon_code": code, **overrides}}
    return api.post(APPLIED, body)


def applied_ok(api, customer, code="startup", **overrides) -> dict:
    response = apply(api, customer, code, **overrides)
    assert response.status_code == 200, response.content
    return response.json()["applied_coupon"]


def utc(value) -> str:
    """A stored moment as the API writes it (the clock ticks, so tests compare with what was stored)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    body = response.json()
    assert (body["status"], body["error"], body["code"]) == (422, "Unprocessable Entity", "validation_errors")
    return body["error_details"]


def assert_lago_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    phrase = {404: "Not Found", 405: "Method Not Allowed"}[status]
    assert response.json() == {"status": status, "error": phrase, "code": code}


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="cust_1", currency="EUR")


# Coupons: shapes ------------------------------------------------------------------------------


def test_create_a_fixed_amount_coupon_in_lagos_shape(api):
    coupon = create_coupon(api, description="Half off")
    stored = Coupon.objects.get()
    assert coupon == {
        "lago_id": str(stored.pk),
        "name": "Startup deal",
        "code": "startup",
        "description": "Half off",
        "coupon_type": "fixed_amount",
        "amount_cents": 5000,
        "amount_currency": "EUR",
        "percentage_rate": None,
        "frequency": "once",
        "frequency_duration": None,
        "reusable": True,
        "limited_plans": False,
        "limited_billable_metrics": False,
        "plan_codes": [],
        "billable_metric_codes": [],
        "created_at": utc(stored.created_at),
        "expiration": "no_expiration",
        "expiration_at": None,
        "terminated_at": None,
    }


def test_a_percentage_coupon_writes_its_rate_as_lagos_decimal_string(api):
    coupon = create_coupon(
        api,
        coupon_type="percentage",
        percentage_rate=12.5,
        amount_cents=None,
        amount_currency=None,
        frequency="recurring",
        frequency_duration=3,
        expiration="time_limit",
        expiration_at="2026-12-31T23:59:59+01:00",
        reusable=False,
    )
    assert (coupon["percentage_rate"], coupon["amount_cents"], coupon["amount_currency"]) == ("12.5", None, None)
    assert (coupon["frequency"], coupon["frequency_duration"], coupon["reusable"]) == ("recurring", 3, False)
    # An offset is read as such and written back in UTC.
    assert (coupon["expiration"], coupon["expiration_at"]) == ("time_limit", "2026-12-31T22:59:59Z")
    whole = create_coupon(api, code="whole", coupon_type="percentage", percentage_rate=20, amount_cents=None)
    assert whole["percentage_rate"] == "20.0"


def test_a_coupon_limited_to_plans_or_to_metrics_names_them(api, organization):
    PlanFactory(organization=organization, code="startup_plan")
    PlanFactory(organization=organization, code="agency_plan")
    BillableMetricFactory(organization=organization, code="api_calls")
    by_plan = create_coupon(api, applies_to={"plan_codes": ["startup_plan", "agency_plan"]})
    assert (by_plan["limited_plans"], by_plan["plan_codes"]) == (True, ["agency_plan", "startup_plan"])
    assert (by_plan["limited_billable_metrics"], by_plan["billable_metric_codes"]) == (False, [])
    by_metric = create_coupon(api, code="metric_deal", applies_to={"billable_metric_codes": ["api_calls"]})
    assert (by_metric["limited_billable_metrics"], by_metric["billable_metric_codes"]) == (True, ["api_calls"])
    assert by_metric["limited_plans"] is False


def test_get_list_pages_and_meta(api, organization):
    assert api.get(COUPONS).json() == {
        "coupons": [],
        "meta": {"current_page": 0, "next_page": None, "prev_page": None, "total_pages": 0, "total_count": 0},
    }
    for index in range(3):
        create_coupon(api, code=f"deal_{index}")
    assert api.get(f"{COUPONS}/deal_1").json()["coupon"]["code"] == "deal_1"
    page = api.get(COUPONS, page=1, per_page=2).json()
    assert [coupon["code"] for coupon in page["coupons"]] == ["deal_2", "deal_1"]  # newest first
    assert page["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": 2, "total_count": 3}


def test_codes_with_odd_characters_work_percent_encoded(api):
    create_coupon(api, code="spring/sale 2026")
    response = api.get(f"{COUPONS}/{quote('spring/sale 2026', safe='')}")
    assert response.status_code == 200 and response.json()["coupon"]["code"] == "spring/sale 2026"


def test_listing_coupons_costs_a_fixed_number_of_queries(api, organization):
    PlanFactory(organization=organization, code="p1")
    create_coupon(api, code="c0", applies_to={"plan_codes": ["p1"]})
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(COUPONS).json()["coupons"]) == 1
    for index in range(1, 5):
        create_coupon(api, code=f"c{index}", applies_to={"plan_codes": ["p1"]})
    with CaptureQueriesContext(connection) as five:
        assert len(api.get(COUPONS).json()["coupons"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


# Coupons: refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"name": None}, {"name": ["value_is_mandatory"]}),
        ({"code": ""}, {"code": ["value_is_mandatory"]}),
        ({"coupon_type": "gift"}, {"coupon_type": ["value_is_invalid"]}),
        ({"frequency": None}, {"frequency": ["value_is_mandatory"]}),
        ({"expiration": "someday"}, {"expiration": ["value_is_invalid"]}),
        ({"amount_cents": None}, {"amount_cents": ["value_is_mandatory"]}),
        ({"amount_cents": 0}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": "5000"}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_cents": 50.5}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": "EURO"}, {"amount_currency": ["value_is_invalid"]}),
        (
            {"coupon_type": "percentage", "amount_cents": None, "amount_currency": None},
            {"percentage_rate": ["value_is_mandatory"]},
        ),
        ({"coupon_type": "percentage", "percentage_rate": 100.5}, {"percentage_rate": ["value_is_invalid"]}),
        ({"coupon_type": "percentage", "percentage_rate": "10"}, {"percentage_rate": ["value_is_invalid"]}),
        ({"frequency": "recurring"}, {"frequency_duration": ["value_is_mandatory"]}),
        ({"frequency": "recurring", "frequency_duration": 0}, {"frequency_duration": ["value_is_invalid"]}),
        ({"expiration": "time_limit"}, {"expiration_at": ["value_is_mandatory"]}),
        ({"expiration": "time_limit", "expiration_at": "2025-01-01T00:00:00Z"}, {"expiration_at": ["invalid_date"]}),
        ({"expiration": "time_limit", "expiration_at": "tomorrow"}, {"expiration_at": ["invalid_date"]}),
        # An offset that pushes the date past what can be stored.
        (
            {"expiration": "time_limit", "expiration_at": "9999-12-31T23:00:00-05:00"},
            {"expiration_at": ["invalid_date"]},
        ),
        ({"reusable": "sometimes"}, {"reusable": ["value_is_invalid"]}),
        ({"applies_to": ["p1"]}, {"applies_to": ["value_is_invalid"]}),
        ({"applies_to": {"plan_codes": "p1"}}, {"plan_codes": ["value_is_invalid"]}),
        ({"applies_to": {"plan_ids": ["p1"]}}, {"plan_ids": ["unknown_field"]}),
        ({"colour": "red"}, {"colour": ["unknown_field"]}),
        ({"expiration_date": "2026-12-31"}, {"expiration_date": ["unknown_field"]}),
        ({"name": "nul\x00inside"}, {"name": ["value_is_invalid"]}),
    ],
)
def test_bad_coupon_bodies_are_422_and_create_nothing(api, fields, details):
    assert errors_of(api.post(COUPONS, coupon_body(**fields))) == details
    assert not Coupon.objects.exists()


def test_a_coupon_limited_to_plans_and_metrics_at_once_is_refused(api, organization):
    PlanFactory(organization=organization, code="p1")
    BillableMetricFactory(organization=organization, code="m1")
    body = coupon_body(applies_to={"plan_codes": ["p1"], "billable_metric_codes": ["m1"]})
    assert errors_of(api.post(COUPONS, body)) == {"applies_to": ["only_plans_or_billable_metrics"]}
    assert not Coupon.objects.exists()


def test_an_unknown_plan_or_metric_code_in_applies_to_is_lagos_404(api, organization):
    PlanFactory(organization=organization, code="p1")
    response = api.post(COUPONS, coupon_body(applies_to={"plan_codes": ["p1", "nope"]}))
    assert_lago_error(response, 404, "plans_not_found")
    response = api.post(COUPONS, coupon_body(applies_to={"billable_metric_codes": ["nope"]}))
    assert_lago_error(response, 404, "billable_metrics_not_found")
    assert not Coupon.objects.exists()


def test_a_code_is_unique_among_live_coupons(api):
    create_coupon(api)
    assert errors_of(api.post(COUPONS, coupon_body(name="Other"))) == {"code": ["value_already_exist"]}
    assert Coupon.objects.count() == 1
    assert api.delete(f"{COUPONS}/startup").status_code == 200
    create_coupon(api)  # a deleted coupon frees its code
    assert Coupon.objects.count() == 2


def test_a_body_without_its_root_key_is_400(api):
    response = api.post(COUPONS, {"name": "Startup deal"})
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "error": "BadRequest: param is missing or the value is empty or invalid: coupon",
    }


def test_unknown_coupons_are_404(api):
    for response in (
        api.get(f"{COUPONS}/nope"),
        api.put(f"{COUPONS}/nope", coupon_body()),
        api.delete(f"{COUPONS}/nope"),
        api.get(f"{COUPONS}/nul%00"),
    ):
        assert_lago_error(response, 404, "coupon_not_found")


def test_another_organizations_coupon_is_404(api, other_api):
    create_coupon(api)
    assert_lago_error(other_api.get(f"{COUPONS}/startup"), 404, "coupon_not_found")
    assert_lago_error(other_api.delete(f"{COUPONS}/startup"), 404, "coupon_not_found")
    assert other_api.get(COUPONS).json()["coupons"] == []
    assert Coupon.objects.get().deleted_at is None


# Coupons: update and delete -------------------------------------------------------------------


def test_update_changes_only_what_it_is_sent(api, organization):
    create_coupon(api, description="Half off")
    PlanFactory(organization=organization, code="p1")
    response = api.put(f"{COUPONS}/startup", {"coupon": {"name": "Renamed", "applies_to": {"plan_codes": ["p1"]}}})
    assert response.status_code == 200, response.content
    coupon = response.json()["coupon"]
    assert (coupon["name"], coupon["description"], coupon["amount_cents"]) == ("Renamed", "Half off", 5000)
    assert coupon["plan_codes"] == ["p1"] and coupon["limited_plans"] is True
    moved = api.put(f"{COUPONS}/startup", {"coupon": {"code": "startup_v2"}})
    assert moved.json()["coupon"]["code"] == "startup_v2"
    assert api.get(f"{COUPONS}/startup_v2").json()["coupon"]["name"] == "Renamed"


def test_changing_a_term_of_an_applied_coupon_is_refused_and_changes_nothing(api, customer):
    create_coupon(api)
    applied_ok(api, customer)
    for fields, details in (
        ({"amount_cents": 100}, {"amount_cents": ["coupon_is_applied"]}),
        ({"frequency": "forever"}, {"frequency": ["coupon_is_applied"]}),
        ({"name": "Renamed", "reusable": False}, {"reusable": ["coupon_is_applied"]}),
    ):
        assert errors_of(api.put(f"{COUPONS}/startup", {"coupon": fields})) == details
    coupon = Coupon.objects.get()
    assert (coupon.name, coupon.amount_cents, coupon.frequency, coupon.reusable) == ("Startup deal", 5000, "once", True)
    # Its name, description and expiration may still change; terms sent unchanged are fine.
    response = api.put(f"{COUPONS}/startup", {"coupon": {"name": "Renamed", "amount_cents": 5000}})
    assert response.status_code == 200 and response.json()["coupon"]["name"] == "Renamed"


def test_delete_terminates_the_coupon_and_its_active_applications(api, customer):
    create_coupon(api)
    applied = applied_ok(api, customer)
    response = api.delete(f"{COUPONS}/startup")
    assert response.status_code == 200
    deleted = response.json()["coupon"]
    assert deleted["code"] == "startup" and deleted["terminated_at"] == utc(Coupon.objects.get().terminated_at)
    assert AppliedCoupon.objects.get(pk=applied["lago_id"]).status == "terminated"
    assert_lago_error(api.get(f"{COUPONS}/startup"), 404, "coupon_not_found")
    assert api.get(COUPONS).json()["coupons"] == []


def test_updating_a_terminated_coupon_is_405(api, organization):
    create_coupon(api)
    terminate_coupon(coupon=Coupon.objects.get())
    assert_lago_error(api.put(f"{COUPONS}/startup", {"coupon": {"name": "x"}}), 405, "coupon_is_terminated")
    assert Coupon.objects.get().name == "Startup deal"


# Applied coupons ------------------------------------------------------------------------------


def test_apply_a_coupon_in_lagos_shape(api, customer):
    coupon = create_coupon(api, description="Half off")
    applied = applied_ok(api, customer)
    stored = AppliedCoupon.objects.get()
    assert applied == {
        "lago_id": str(stored.pk),
        "lago_coupon_id": coupon["lago_id"],
        "coupon_code": "startup",
        "coupon_name": "Startup deal",
        "coupon_description": "Half off",
        "coupon_status": "active",
        "coupon_deleted_at": None,
        "lago_customer_id": str(customer.pk),
        "external_customer_id": "cust_1",
        "status": "active",
        "amount_cents": 5000,
        "amount_cents_remaining": 5000,
        "amount_currency": "EUR",
        "percentage_rate": None,
        "frequency": "once",
        "frequency_duration": None,
        "frequency_duration_remaining": None,
        "expiration_at": None,
        "created_at": utc(stored.created_at),
        "terminated_at": None,
    }


def test_only_a_once_fixed_amount_has_an_amount_remaining(api, customer):
    create_coupon(api, code="monthly", frequency="recurring", frequency_duration=3)
    recurring = applied_ok(api, customer, "monthly")
    assert (recurring["amount_cents_remaining"], recurring["frequency_duration_remaining"]) == (None, 3)
    create_coupon(api, code="pct", coupon_type="percentage", percentage_rate=10, frequency="forever")
    percentage = applied_ok(api, customer, "pct")
    assert (percentage["amount_cents_remaining"], percentage["percentage_rate"]) == (None, "10.0")
    assert (percentage["amount_cents"], percentage["amount_currency"]) == (None, None)


def test_terms_may_be_overridden_when_applying(api, customer):
    create_coupon(api)
    applied = applied_ok(api, customer, amount_cents=1200, frequency="recurring", frequency_duration=2)
    assert (applied["amount_cents"], applied["frequency"], applied["frequency_duration"]) == (1200, "recurring", 2)
    assert applied["amount_cents_remaining"] is None
    create_coupon(api, code="pct", coupon_type="percentage", percentage_rate=10)
    assert applied_ok(api, customer, "pct", percentage_rate=33.33333)["percentage_rate"] == "33.33333"
    assert Coupon.objects.get(code="startup").amount_cents == 5000  # the coupon itself is unchanged


def test_a_customer_without_a_currency_takes_the_fixed_coupons(api, organization):
    customer = CustomerFactory(organization=organization, currency=None)
    create_coupon(api, amount_currency="USD")
    applied_ok(api, customer)
    assert Customer.objects.get(pk=customer.pk).currency == "USD"


def test_unknown_or_missing_customer_is_404(api, customer, organization):
    create_coupon(api)
    unknown = {"applied_coupon": {"external_customer_id": "nope", "coupon_code": "startup"}}
    assert_lago_error(api.post(APPLIED, unknown), 404, "customer_not_found")
    missing = {"applied_coupon": {"coupon_code": "startup"}}
    assert_lago_error(api.post(APPLIED, missing), 404, "customer_not_found")
    deleted = CustomerFactory(organization=organization, external_id="gone")
    delete_customer(customer=deleted)
    assert_lago_error(apply(api, deleted), 404, "customer_not_found")
    assert not AppliedCoupon.objects.exists()


def test_unknown_missing_terminated_or_deleted_coupon_is_404(api, customer):
    assert_lago_error(apply(api, customer, "nope"), 404, "coupon_not_found")
    missing = {"applied_coupon": {"external_customer_id": "cust_1"}}
    assert_lago_error(api.post(APPLIED, missing), 404, "coupon_not_found")
    create_coupon(api)
    terminate_coupon(coupon=Coupon.objects.get())
    assert_lago_error(apply(api, customer), 404, "coupon_not_found")
    create_coupon(api, code="deleted")
    assert api.delete(f"{COUPONS}/deleted").status_code == 200
    assert_lago_error(apply(api, customer, "deleted"), 404, "coupon_not_found")
    assert not AppliedCoupon.objects.exists()


def test_a_non_reusable_coupon_is_applied_once_per_customer(api, customer, organization):
    create_coupon(api, reusable=False)
    applied = applied_ok(api, customer)
    assert errors_of(apply(api, customer)) == {"coupon": ["coupon_is_not_reusable"]}
    # Even once the first application has ended.
    api.delete(f"/api/v1/customers/cust_1/applied_coupons/{applied['lago_id']}")
    assert errors_of(apply(api, customer)) == {"coupon": ["coupon_is_not_reusable"]}
    assert AppliedCoupon.objects.count() == 1
    other = CustomerFactory(organization=organization, currency="EUR")
    assert apply(api, other).status_code == 200  # another customer may still have it


def test_a_reusable_coupon_may_be_applied_twice(api, customer):
    create_coupon(api)
    applied_ok(api, customer)
    applied_ok(api, customer)
    assert AppliedCoupon.objects.filter(customer=customer, status="active").count() == 2


def test_overlapping_limited_coupons_are_405_plan_overlapping(api, customer, organization):
    PlanFactory(organization=organization, code="p1")
    PlanFactory(organization=organization, code="p2")
    create_coupon(api, code="a", applies_to={"plan_codes": ["p1"]})
    create_coupon(api, code="b", applies_to={"plan_codes": ["p1", "p2"]})
    create_coupon(api, code="c", applies_to={"plan_codes": ["p2"]})
    applied_ok(api, customer, "a")
    assert_lago_error(apply(api, customer, "b"), 405, "plan_overlapping")
    assert AppliedCoupon.objects.count() == 1
    applied_ok(api, customer, "c")  # limited to another plan: no overlap


def test_a_fixed_coupon_in_another_currency_than_the_customers_is_refused(api, customer):
    create_coupon(api, amount_currency="USD")
    assert errors_of(apply(api, customer)) == {"amount_currency": ["currencies_does_not_match"]}
    create_coupon(api, code="eur")
    assert errors_of(apply(api, customer, "eur", amount_currency="GBP")) == {
        "amount_currency": ["currencies_does_not_match"]
    }
    assert not AppliedCoupon.objects.exists()
    assert Customer.objects.get(pk=customer.pk).currency == "EUR"


@pytest.mark.parametrize(
    ("overrides", "details"),
    [
        ({"percentage_rate": 10}, {"percentage_rate": ["value_is_invalid"]}),
        ({"amount_cents": -5}, {"amount_cents": ["value_is_out_of_range"]}),
        ({"amount_cents": "100"}, {"amount_cents": ["value_is_invalid"]}),
        ({"frequency": "weekly"}, {"frequency": ["value_is_invalid"]}),
        ({"frequency": "recurring"}, {"frequency_duration": ["value_is_mandatory"]}),
        ({"frequency_duration": 2.5}, {"frequency_duration": ["value_is_invalid"]}),
        ({"expiration_at": "2027-01-01"}, {"expiration_at": ["unknown_field"]}),
        ({"coupon_code": ["startup"]}, {"coupon_code": ["value_is_invalid"]}),
    ],
)
def test_bad_applications_are_422_and_apply_nothing(api, customer, overrides, details):
    create_coupon(api)
    assert errors_of(apply(api, customer, **overrides)) == details
    assert not AppliedCoupon.objects.exists()


def test_a_percentage_coupon_takes_no_amount_override(api, customer):
    create_coupon(api, code="pct", coupon_type="percentage", percentage_rate=10)
    assert errors_of(apply(api, customer, "pct", amount_cents=100)) == {"amount_cents": ["value_is_invalid"]}
    assert not AppliedCoupon.objects.exists()


# Applied coupons: lists -----------------------------------------------------------------------


@pytest.fixture
def applications(api, organization, customer):
    """Three applications: two for cust_1 (one terminated), one for cust_2."""
    create_coupon(api, code="a")
    create_coupon(api, code="b", coupon_type="percentage", percentage_rate=5)
    other = CustomerFactory(organization=organization, external_id="cust_2", currency="EUR")
    first = applied_ok(api, customer, "a")
    second = applied_ok(api, customer, "b")
    third = applied_ok(api, other, "a")
    api.delete(f"/api/v1/customers/cust_1/applied_coupons/{first['lago_id']}")
    return first["lago_id"], second["lago_id"], third["lago_id"]


def listed(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["lago_id"] for item in response.json()["applied_coupons"]]


def test_list_filters_as_lago(api, applications):
    first, second, third = applications
    assert listed(api.get(APPLIED)) == [third, second, first]  # newest first
    assert listed(api.get(APPLIED, external_customer_id="cust_1")) == [second, first]
    assert listed(api.get(APPLIED, status="terminated")) == [first]
    assert listed(api.get(APPLIED, status="active", external_customer_id="cust_1")) == [second]
    assert listed(api.get(APPLIED, **{"coupon_code[]": ["a"]})) == [third, first]
    assert listed(api.get(APPLIED, **{"coupon_code[]": ["a", "b"], "external_customer_id": "cust_2"})) == [third]
    assert listed(api.get(APPLIED, external_customer_id="nobody")) == []
    body = api.get(APPLIED, per_page=1, page=2).json()
    assert body["meta"] == {"current_page": 2, "next_page": 3, "prev_page": 1, "total_pages": 3, "total_count": 3}


def test_a_customers_own_list_and_its_404(api, applications):
    first, second, _ = applications
    assert listed(api.get("/api/v1/customers/cust_1/applied_coupons")) == [second, first]
    assert listed(api.get("/api/v1/customers/cust_1/applied_coupons", status="active")) == [second]
    assert_lago_error(api.get("/api/v1/customers/nobody/applied_coupons"), 404, "customer_not_found")


def test_an_unknown_status_filter_is_422(api):
    assert errors_of(api.get(APPLIED, status="expired")) == {"status": ["value_is_invalid"]}


def test_another_organizations_applications_are_invisible(other_api, applications):
    assert listed(other_api.get(APPLIED)) == []
    assert_lago_error(other_api.get("/api/v1/customers/cust_1/applied_coupons"), 404, "customer_not_found")


def test_listing_applied_coupons_costs_a_fixed_number_of_queries(api, organization, customer):
    create_coupon(api)
    applied_ok(api, customer)
    billed_invoice(organization, customer=customer)  # one credit
    with CaptureQueriesContext(connection) as one:
        assert len(api.get(APPLIED).json()["applied_coupons"]) == 1
    for _ in range(3):
        other = CustomerFactory(organization=organization, currency="EUR")
        applied_ok(api, other)
        billed_invoice(organization, customer=other)
    with CaptureQueriesContext(connection) as four:
        items = api.get(APPLIED).json()["applied_coupons"]
    assert len(items) == 4 and all(len(item["credits"]) == 1 for item in items)
    assert len(four.captured_queries) == len(one.captured_queries)


# Applied coupons: termination -----------------------------------------------------------------


def test_terminate_an_applied_coupon_and_again(api, customer):
    create_coupon(api)
    applied = applied_ok(api, customer)
    url = f"/api/v1/customers/cust_1/applied_coupons/{applied['lago_id']}"
    response = api.delete(url)
    assert response.status_code == 200
    ended = response.json()["applied_coupon"]
    assert (ended["lago_id"], ended["status"], ended["terminated_at"]) == (
        applied["lago_id"],
        "terminated",
        utc(AppliedCoupon.objects.get().terminated_at),
    )
    # Idempotent: the same object, the same termination.
    again = api.delete(url)
    assert again.status_code == 200 and again.json()["applied_coupon"] == ended
    assert Coupon.objects.get().status == "active"  # the coupon itself goes on


def test_terminating_something_else_is_404_and_changes_nothing(api, customer, organization):
    create_coupon(api)
    applied = applied_ok(api, customer)
    other = CustomerFactory(organization=organization, external_id="cust_2", currency="EUR")
    base = "/api/v1/customers"
    assert_lago_error(
        api.delete(f"{base}/cust_2/applied_coupons/{applied['lago_id']}"), 404, "applied_coupon_not_found"
    )
    assert_lago_error(api.delete(f"{base}/cust_1/applied_coupons/{other.pk}"), 404, "applied_coupon_not_found")
    assert_lago_error(api.delete(f"{base}/cust_1/applied_coupons/not-a-uuid"), 404, "applied_coupon_not_found")
    assert_lago_error(api.delete(f"{base}/nobody/applied_coupons/{applied['lago_id']}"), 404, "customer_not_found")
    assert AppliedCoupon.objects.get().status == "active"


def test_another_organization_cannot_terminate_it(api, other_api, customer):
    create_coupon(api)
    applied = applied_ok(api, customer)
    response = other_api.delete(f"/api/v1/customers/cust_1/applied_coupons/{applied['lago_id']}")
    assert_lago_error(response, 404, "customer_not_found")
    assert AppliedCoupon.objects.get().status == "active"


def test_every_endpoint_needs_a_key(client):
    for method, path in (
        ("get", COUPONS),
        ("post", COUPONS),
        ("get", f"{COUPONS}/startup"),
        ("put", f"{COUPONS}/startup"),
        ("delete", f"{COUPONS}/startup"),
        ("get", APPLIED),
        ("post", APPLIED),
        ("get", "/api/v1/customers/cust_1/applied_coupons"),
        ("delete", "/api/v1/customers/cust_1/applied_coupons/x"),
    ):
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401 and response.json() == {"status": 401, "error": "Unauthorized"}, path


# Coupons on invoices --------------------------------------------------------------------------


def test_an_invoice_and_the_applied_coupon_show_the_credit_it_took(api, organization, customer):
    create_coupon(api, amount_cents=1000)
    applied = applied_ok(api, customer)
    invoice = billed_invoice(organization, customer=customer)  # 100.00 plan + 5.00 usage
    credit = CouponCredit.objects.get()
    expected_credit = {
        "lago_id": str(credit.pk),
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "before_taxes": True,
        "item": {
            "lago_item_id": applied["lago_coupon_id"],
            "type": "coupon",
            "code": "startup",
            "name": "Startup deal",
            "description": None,
        },
        "invoice": {"lago_id": str(invoice.pk), "payment_status": "pending"},
    }
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]
    assert body["coupons_amount_cents"] == 1000 and body["credits"] == [expected_credit]
    assert sum(credit["amount_cents"] for credit in body["credits"]) == body["coupons_amount_cents"]
    # Each fee shows its share of the coupon, off its subtotal; the shares add up to the credit.
    shares = {fee["item"]["type"]: fee for fee in body["fees"]}
    assert shares["subscription"]["precise_coupons_amount_cents"] == "952.0"  # 1000 × 10000 / 10500
    assert shares["charge"]["precise_coupons_amount_cents"] == "48.0"
    for fee in body["fees"]:
        coupon_share = int(Decimal(fee["precise_coupons_amount_cents"]))
        assert fee["sub_total_excluding_taxes_amount_cents"] == fee["amount_cents"] - coupon_share
    assert body["sub_total_excluding_taxes_amount_cents"] == 9500

    [listed_coupon] = api.get(APPLIED).json()["applied_coupons"]
    assert listed_coupon["credits"] == [expected_credit]
    assert listed_coupon["amount_cents_remaining"] == 0 and listed_coupon["status"] == "terminated"


def test_an_invoice_without_coupons_shows_no_credits_and_no_coupon_shares(api, organization, customer):
    invoice = billed_invoice(organization, customer=customer)
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()["invoice"]
    assert body["credits"] == [] and body["coupons_amount_cents"] == 0
    assert {fee["precise_coupons_amount_cents"] for fee in body["fees"]} == {"0.0"}


def test_showing_an_invoice_costs_the_same_with_or_without_coupons(api, organization, customer):
    plain = billed_invoice(organization)
    with CaptureQueriesContext(connection) as without:
        assert api.get(f"/api/v1/invoices/{plain.pk}").status_code == 200
    create_coupon(api, amount_cents=100)
    create_coupon(api, code="pct", coupon_type="percentage", percentage_rate=10)
    applied_ok(api, customer)
    applied_ok(api, customer, "pct")
    discounted = billed_invoice(organization, customer=customer)
    with CaptureQueriesContext(connection) as with_two:
        body = api.get(f"/api/v1/invoices/{discounted.pk}").json()["invoice"]
    assert len(body["credits"]) == 2
    assert len(with_two.captured_queries) == len(without.captured_queries)


# The writers and the schema -------------------------------------------------------------------


def test_the_writers_write_what_the_schema_documents(api, organization, customer):
    create_coupon(api)
    applied_ok(api, customer)
    billed_invoice(organization, customer=customer)
    coupon = Coupon.objects.get()
    applied = AppliedCoupon.objects.select_related("coupon", "customer").get()
    credit = CouponCredit.objects.select_related("invoice").get()
    assert list(coupon_payload(coupon)) == list(CouponOutput().fields)
    assert list(applied_coupon_payload(applied)) == list(AppliedCouponOutput().fields)
    assert list(applied_coupon_payload(applied, credits=True)) == list(AppliedCouponWithCreditsOutput().fields)
    credit_payload = coupon_credit_payload(credit, coupon=coupon, invoice=credit.invoice)
    assert list(credit_payload) == list(CreditOutput().fields)
    assert list(credit_payload["item"]) == list(CreditOutput().fields["item"].fields)
    json.dumps(applied_coupon_payload(applied, credits=True))  # plain values only


def test_the_schema_documents_the_coupon_endpoints(client):
    schema = client.get("/api/schema", {"format": "json"}).json()
    operations = {
        operation["operationId"]
        for path, item in schema["paths"].items()
        if "coupon" in path
        for operation in item.values()
    }
    assert operations == {
        "list_coupons",
        "create_coupon",
        "get_coupon",
        "update_coupon",
        "delete_coupon",
        "list_applied_coupons",
        "apply_coupon",
        "list_customer_applied_coupons",
        "terminate_customer_applied_coupon",
    }


def test_a_nul_in_any_coupon_code_filter_is_422(api):
    response = api.client.get(f"{APPLIED}?coupon_code[]=a%00&coupon_code[]=b", headers=api.headers)
    assert errors_of(response) == {"coupon_code": ["value_is_invalid"]}
