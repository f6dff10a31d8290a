"""Lago's Python client (1.55.0) drives coupons, applied coupons, add-ons and one-off invoices over
HTTP. If the client raises, parses wrongly or needs a workaround, our API is wrong, not the test."""

from decimal import Decimal

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    AppliedCoupon,
    Coupon,
    InvoiceFee,
    InvoiceFeesList,
    LimitationConfiguration,
    OneOffInvoice,
)

from coupons.models import AppliedCoupon as StoredAppliedCoupon
from coupons.models import Coupon as StoredCoupon
from customers.tests.factories import CustomerFactory
from invoicing.models import Invoice
from invoicing.tests.test_invoices_api import billed_invoice, frozen_clock  # noqa: F401 (autouse fixture)
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory
from plans.models import AddOn as StoredAddOn
from plans.tests.factories import PlanFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org():
    return OrganizationFactory(name="Coupon Co")


@pytest.fixture
def lago(live_server, org):
    _, raw_key = create_api_key(organization=org)
    return Client(api_key=raw_key, api_url=live_server.url)


@pytest.fixture
def customer(org):
    return CustomerFactory(organization=org, external_id="cust_1", currency="EUR")


def startup_deal(**fields) -> Coupon:
    return Coupon(
        **{
            "name": "Startup deal",
            "code": "startup",
            "coupon_type": "fixed_amount",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
            **fields,
        }
    )


def refused(call) -> LagoApiError:
    with pytest.raises(LagoApiError) as error:
        call()
    return error.value


# Coupons ----------------------------------------------------------------------------------------


def test_coupon_create_find_find_all_update_destroy(lago, org):
    PlanFactory(organization=org, code="startup_plan")
    created = lago.coupons.create(startup_deal(applies_to=LimitationConfiguration(plan_codes=["startup_plan"])))
    assert created.lago_id and created.code == "startup" and created.expiration == "no_expiration"
    assert (created.amount_cents, created.amount_currency, created.percentage_rate) == (1000, "EUR", None)
    assert created.limited_plans is True and created.plan_codes == ["startup_plan"]
    assert created.limited_billable_metrics is False and created.billable_metric_codes == []

    found = lago.coupons.find("startup")
    assert found.lago_id == created.lago_id and found.created_at == created.created_at

    percentage = lago.coupons.create(
        startup_deal(
            code="pct",
            coupon_type="percentage",
            percentage_rate=12.5,
            amount_cents=None,
            amount_currency=None,
            frequency="recurring",
            frequency_duration=3,
            expiration="time_limit",
            expiration_at="2026-12-31T00:00:00Z",
            reusable=False,
        )
    )
    # Lago writes the rate as a decimal string; the client reads it into its float.
    assert percentage.percentage_rate == 12.5 and percentage.frequency_duration == 3
    assert (percentage.expiration_at, percentage.reusable) == ("2026-12-31T00:00:00Z", False)

    page = lago.coupons.find_all({"per_page": 1, "page": 1})
    assert [coupon.code for coupon in page["coupons"]] == ["pct"]
    assert page["meta"]["total_count"] == 2 and page["meta"]["next_page"] == 2

    updated = lago.coupons.update(Coupon(name="Renamed", description="For startups"), "startup")
    assert (updated.name, updated.description, updated.amount_cents) == ("Renamed", "For startups", 1000)

    destroyed = lago.coupons.destroy("startup")
    assert destroyed.lago_id == created.lago_id and destroyed.terminated_at is not None
    error = refused(lambda: lago.coupons.find("startup"))
    assert error.status_code == 404 and error.response["code"] == "coupon_not_found"


def test_coupon_refusals_reach_the_client_as_lago_errors(lago, customer):
    error = refused(lambda: lago.coupons.create(startup_deal(amount_cents=None)))
    assert error.status_code == 422 and error.response["error_details"] == {"amount_cents": ["value_is_mandatory"]}
    error = refused(lambda: lago.coupons.create(startup_deal(applies_to=LimitationConfiguration(plan_codes=["x"]))))
    assert error.status_code == 404 and error.response["code"] == "plans_not_found"
    assert not StoredCoupon.objects.exists()

    lago.coupons.create(startup_deal())
    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust_1", coupon_code="startup"))
    error = refused(lambda: lago.coupons.update(Coupon(amount_cents=1), "startup"))
    assert error.status_code == 422 and error.response["error_details"] == {"amount_cents": ["coupon_is_applied"]}
    assert StoredCoupon.objects.get().amount_cents == 1000


# Applied coupons --------------------------------------------------------------------------------


def test_apply_list_and_terminate(lago, org, customer):
    lago.coupons.create(startup_deal())
    applied = lago.applied_coupons.create(
        AppliedCoupon(external_customer_id="cust_1", coupon_code="startup", amount_cents=800)
    )
    assert applied.lago_id and applied.coupon_code == "startup" and applied.external_customer_id == "cust_1"
    assert (applied.status, applied.amount_cents, applied.amount_cents_remaining) == ("active", 800, 800)
    assert applied.lago_customer_id == str(customer.pk) and applied.created_at

    invoice = billed_invoice(org, customer=customer)
    listed = lago.applied_coupons.find_all({"external_customer_id": "cust_1", "status": "terminated"})
    [item] = listed["applied_coupons"]  # used up by the invoice
    assert item.lago_id == applied.lago_id and item.amount_cents_remaining == 0
    [credit] = item.credits.__root__
    assert credit.before_taxes is True and credit.amount_cents == 800
    assert (credit.item.type, credit.item.code, credit.item.lago_item_id) == (
        "coupon",
        "startup",
        applied.lago_coupon_id,
    )
    assert credit.invoice.lago_id == str(invoice.pk) and credit.invoice.payment_status == "pending"
    assert listed["meta"]["total_count"] == 1
    assert lago.applied_coupons.find_all({"status": "active"})["applied_coupons"] == []

    # The invoice shows the same credit, and each fee its share.
    shown = lago.invoices.find(str(invoice.pk))
    assert shown.coupons_amount_cents == 800 and [c.amount_cents for c in shown.credits.__root__] == [800]
    assert sum(Decimal(str(fee.precise_coupons_amount_cents)) for fee in shown.fees.__root__) == 800

    lago.applied_coupons.create(AppliedCoupon(external_customer_id="cust_1", coupon_code="startup"))
    active = lago.applied_coupons.find_all({"status": "active", "coupon_code[]": ["startup"]})["applied_coupons"]
    [second] = active
    ended = lago.applied_coupons.destroy("cust_1", second.lago_id)
    assert ended.lago_id == second.lago_id and ended.status == "terminated" and ended.terminated_at
    again = lago.applied_coupons.destroy("cust_1", second.lago_id)  # idempotent
    assert again.terminated_at == ended.terminated_at
    error = refused(lambda: lago.applied_coupons.destroy("cust_1", str(customer.pk)))
    assert error.status_code == 404 and error.response["code"] == "applied_coupon_not_found"


def test_every_refusal_rule_reaches_the_client(lago, org, customer):
    def apply(code: str, **overrides):
        return lambda: lago.applied_coupons.create(
            AppliedCoupon(external_customer_id=overrides.pop("customer", "cust_1"), coupon_code=code, **overrides)
        )

    lago.coupons.create(startup_deal(reusable=False))
    error = refused(apply("startup", customer="nobody"))
    assert error.status_code == 404 and error.response["code"] == "customer_not_found"
    error = refused(apply("nope"))
    assert error.status_code == 404 and error.response["code"] == "coupon_not_found"

    apply("startup")()
    error = refused(apply("startup"))
    assert error.status_code == 422 and error.response["error_details"] == {"coupon": ["coupon_is_not_reusable"]}

    lago.coupons.create(startup_deal(code="usd", amount_currency="USD"))
    error = refused(apply("usd"))
    assert error.status_code == 422
    assert error.response["error_details"] == {"amount_currency": ["currencies_does_not_match"]}

    PlanFactory(organization=org, code="p1")
    limited = LimitationConfiguration(plan_codes=["p1"])
    lago.coupons.create(startup_deal(code="a", applies_to=limited))
    lago.coupons.create(startup_deal(code="b", applies_to=limited))
    apply("a")()
    error = refused(apply("b"))
    assert error.status_code == 405 and error.response["code"] == "plan_overlapping"

    lago.coupons.destroy("usd")
    error = refused(apply("usd"))
    assert error.status_code == 404 and error.response["code"] == "coupon_not_found"
    assert StoredAppliedCoupon.objects.count() == 2  # "startup" and "a"


def test_the_customer_list_client_sends_no_key_and_gets_lagos_401(lago, customer):
    # lago-python-client's customer_applied_coupons.find_all sends no Authorization header (§6.5).
    error = refused(lambda: lago.customer_applied_coupons.find_all("cust_1"))
    assert error.status_code == 401


# Add-ons and one-off invoices -------------------------------------------------------------------


def test_add_on_create_find_find_all_update_destroy(lago):
    created = lago.add_ons.create(
        AddOn(name="Setup fee", code="setup", amount_cents=50000, amount_currency="EUR", invoice_display_name="Setup")
    )
    assert created.lago_id and (created.code, created.amount_cents, created.amount_currency) == ("setup", 50000, "EUR")
    assert created.invoice_display_name == "Setup" and created.taxes.__root__ == []
    assert lago.add_ons.find("setup").lago_id == created.lago_id
    page = lago.add_ons.find_all({"per_page": 10})
    assert [add_on.code for add_on in page["add_ons"]] == ["setup"] and page["meta"]["total_count"] == 1
    updated = lago.add_ons.update(AddOn(amount_cents=60000, description="One-time"), "setup")
    assert (updated.amount_cents, updated.description, updated.name) == (60000, "One-time", "Setup fee")
    error = refused(
        lambda: lago.add_ons.create(AddOn(name="Again", code="setup", amount_cents=1, amount_currency="EUR"))
    )
    assert error.status_code == 422 and error.response["error_details"] == {"code": ["value_already_exist"]}
    assert lago.add_ons.destroy("setup").lago_id == created.lago_id
    error = refused(lambda: lago.add_ons.find("setup"))
    assert error.status_code == 404 and error.response["code"] == "add_on_not_found"
    assert StoredAddOn.objects.get().deleted_at is not None


def test_one_off_invoice(lago, customer):
    lago.add_ons.create(AddOn(name="Setup fee", code="setup", amount_cents=50000, amount_currency="EUR"))
    lago.add_ons.create(AddOn(name="Support hour", code="support", amount_cents=333, amount_currency="EUR"))
    invoice = lago.invoices.create(
        OneOffInvoice(
            external_customer_id="cust_1",
            currency="EUR",
            fees=InvoiceFeesList(
                __root__=[
                    InvoiceFee(add_on_code="setup"),
                    InvoiceFee(add_on_code="support", units=1.5, description="Extra help"),
                ]
            ),
        )
    )
    assert (invoice.invoice_type, invoice.status, invoice.currency) == ("one_off", "finalized", "EUR")
    assert invoice.fees_amount_cents == 50500 and invoice.total_amount_cents == 50500  # 50000 + round(333 × 1.5)
    fees = {fee.item.code: fee for fee in invoice.fees.__root__}
    assert (fees["setup"].item.type, fees["setup"].units, fees["setup"].amount_cents) == ("add_on", "1.0", 50000)
    assert (fees["support"].units, fees["support"].amount_cents) == ("1.5", 500)
    assert fees["support"].description == "Extra help"
    assert lago.invoices.find(invoice.lago_id).number == invoice.number

    error = refused(
        lambda: lago.invoices.create(
            OneOffInvoice(external_customer_id="cust_1", fees=InvoiceFeesList(__root__=[InvoiceFee(add_on_code="x")]))
        )
    )
    assert error.status_code == 404 and error.response["code"] == "add_on_not_found"
    error = refused(lambda: lago.invoices.create(OneOffInvoice(external_customer_id="nobody")))
    assert error.status_code == 404 and error.response["code"] == "customer_not_found"
    error = refused(lambda: lago.invoices.create(OneOffInvoice(external_customer_id="cust_1")))
    assert error.status_code == 404 and error.response["code"] == "fees_not_found"
    assert Invoice.objects.count() == 1
