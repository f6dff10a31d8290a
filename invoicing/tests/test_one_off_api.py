"""One-off invoices of add-ons through Lago's `POST /api/v1/invoices`: a finalized `one_off` invoice
shown as GET shows it, add-on fees named as Lago names them, and every refusal a clear 4xx that
bills nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from invoicing.customer_deletion import delete_customer
from invoicing.invoices_api import FeeItemOutput, FeeOutput, fee_payload
from invoicing.models import Fee, Invoice
from invoicing.tests.test_invoices_api import INVOICE_REQUIRED_INTS, frozen_clock  # noqa: F401 (autouse fixture)
from plans.models import AddOn
from plans.services import delete_add_on
from plans.tests.factories import PlanFactory

INVOICES = "/api/v1/invoices"


@pytest.fixture
def customer(organization):
    return CustomerFactory(organization=organization, external_id="cust_1", currency="EUR")


@pytest.fixture
def setup_fee(organization):
    return AddOn.objects.create(
        organization=organization,
        code="setup",
        name="Setup fee",
        invoice_display_name="Onboarding",
        description="One-time setup",
        amount_cents=50000,
        amount_currency="EUR",
    )


@pytest.fixture
def support(organization):
    return AddOn.objects.create(
        organization=organization, code="support", name="Support hour", amount_cents=333, amount_currency="EUR"
    )


def one_off(external_customer_id="cust_1", fees=None, **fields) -> dict:
    fees = [{"add_on_code": "setup"}] if fees is None else fees
    return {"invoice": {"external_customer_id": external_customer_id, "fees": fees, **fields}}


def create(api, **kwargs) -> dict:
    response = api.post(INVOICES, one_off(**kwargs))
    assert response.status_code == 200, response.content
    return response.json()["invoice"]


def assert_nothing_billed() -> None:
    assert not Invoice.objects.exists() and not Fee.objects.exists()


def errors_of(response) -> dict:
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


def assert_not_found(response, code: str) -> None:
    assert response.status_code == 404, response.content
    assert response.json() == {"status": 404, "error": "Not Found", "code": code}


# Shapes -----------------------------------------------------------------------------------------


def test_a_one_off_invoice_is_finalized_and_shown_as_get_shows_it(api, customer, setup_fee, support):
    body = create(
        api,
        currency="EUR",
        fees=[
            {"add_on_code": "setup"},
            {"add_on_code": "support", "units": 2.5, "unit_amount_cents": 1000, "description": "Extra help"},
        ],
    )
    invoice = Invoice.objects.get()
    assert body["lago_id"] == str(invoice.pk)
    assert (body["invoice_type"], body["status"], body["payment_status"]) == ("one_off", "finalized", "pending")
    assert body["number"] == "ACME-000001" and body["sequential_id"] == 1
    assert body["currency"] == "EUR" and body["issuing_date"] == "2026-02-01"
    for key in INVOICE_REQUIRED_INTS:
        assert isinstance(body[key], int), key
    assert body["fees_amount_cents"] == 52500 and body["total_amount_cents"] == 52500
    assert body["coupons_amount_cents"] == 0 and body["total_due_amount_cents"] == 52500
    assert body["customer"]["external_id"] == "cust_1"
    assert body["subscriptions"] == [] and body["billing_periods"] == [] and body["credits"] == []
    # The same invoice GET shows.
    assert api.get(f"{INVOICES}/{invoice.pk}").json()["invoice"] == body

    fees = {fee["item"]["code"]: fee for fee in body["fees"]}
    setup = fees["setup"]
    assert setup["item"] == {
        "type": "add_on",
        "code": "setup",
        "name": "Setup fee",
        "description": "One-time setup",
        "invoice_display_name": "Onboarding",
        "lago_item_id": str(setup_fee.pk),
        "item_type": "AddOn",
        "filters": None,
        "filter_invoice_display_name": None,
        "grouped_by": {},
    }
    # Units default to 1 and the unit amount to the add-on's.
    assert (setup["units"], setup["amount_cents"], setup["amount_currency"]) == ("1.0", 50000, "EUR")
    assert setup["lago_subscription_id"] is None and setup["lago_charge_id"] is None
    assert setup["precise_coupons_amount_cents"] == "0.0"
    assert setup["sub_total_excluding_taxes_amount_cents"] == 50000
    extra = fees["support"]
    assert (extra["units"], extra["amount_cents"], extra["description"]) == ("2.5", 2500, "Extra help")
    assert extra["item"]["invoice_display_name"] == "Support hour"  # no display name: the add-on's name


def test_the_amount_is_unit_amount_times_units_rounded_half_up(api, customer, support):
    fees = create(api, fees=[{"add_on_code": "support", "units": 1.5}])["fees"]  # 333 × 1.5 = 499.5
    assert [(fee["units"], fee["amount_cents"]) for fee in fees] == [("1.5", 500)]


def test_the_currency_defaults_to_the_customers_and_is_set_when_blank(api, organization, setup_fee):
    CustomerFactory(organization=organization, external_id="eur", currency="EUR")
    assert create(api, external_customer_id="eur")["currency"] == "EUR"
    blank = CustomerFactory(organization=organization, external_id="blank", currency=None)
    # The add-on is priced in EUR: a USD invoice names its unit amount (ours, refused otherwise).
    usd_fee = [{"add_on_code": "setup", "unit_amount_cents": 60000}]
    response = api.post(INVOICES, one_off(external_customer_id="blank", currency="USD"))
    assert response.status_code == 422 and errors_of(response) == {"currency": ["currencies_does_not_match"]}
    assert create(api, external_customer_id="blank", currency="USD", fees=usd_fee)["currency"] == "USD"
    assert Customer.objects.get(pk=blank.pk).currency == "USD"


def test_one_off_invoices_are_listed_and_filtered_by_type(api, customer, setup_fee):
    created = create(api)
    listed = api.get(INVOICES, invoice_type="one_off").json()["invoices"]
    assert [invoice["lago_id"] for invoice in listed] == [created["lago_id"]]
    assert api.get(INVOICES, invoice_type="subscription").json()["invoices"] == []


def test_a_deleted_add_on_still_names_the_fees_it_billed(api, customer, setup_fee):
    created = create(api)
    delete_add_on(add_on=setup_fee)
    [fee] = api.get(f"{INVOICES}/{created['lago_id']}").json()["invoice"]["fees"]
    assert (fee["item"]["code"], fee["item"]["lago_item_id"]) == ("setup", str(setup_fee.pk))


def test_a_one_off_invoice_can_be_voided(api, customer, setup_fee):
    created = create(api)
    response = api.post(f"{INVOICES}/{created['lago_id']}/void", {})
    assert response.status_code == 200 and response.json()["invoice"]["status"] == "voided"


def test_showing_it_costs_a_fixed_number_of_queries(api, customer, setup_fee, support):
    small = create(api)
    with CaptureQueriesContext(connection) as one:
        assert api.get(f"{INVOICES}/{small['lago_id']}").status_code == 200
    big = create(api, fees=[{"add_on_code": code} for code in ("setup", "support", "setup", "support", "setup")])
    with CaptureQueriesContext(connection) as five:
        assert len(api.get(f"{INVOICES}/{big['lago_id']}").json()["invoice"]["fees"]) == 5
    assert len(five.captured_queries) == len(one.captured_queries)


def test_the_fee_writer_writes_an_add_on_fee_as_the_schema_documents(api, customer, setup_fee):
    create(api)
    fee = Fee.objects.select_related("invoice__customer", "add_on").get()
    payload = fee_payload(fee, invoice=fee.invoice, customer=fee.invoice.customer)
    assert list(payload) == list(FeeOutput().fields)
    assert list(payload["item"]) == list(FeeItemOutput().fields)


# Refusals ---------------------------------------------------------------------------------------


def test_an_unknown_or_missing_customer_is_404(api, customer, setup_fee):
    assert_not_found(api.post(INVOICES, one_off(external_customer_id="nope")), "customer_not_found")
    assert_not_found(api.post(INVOICES, {"invoice": {"fees": [{"add_on_code": "setup"}]}}), "customer_not_found")
    assert_nothing_billed()


def test_no_fees_is_lagos_404_fees_not_found(api, customer):
    assert_not_found(api.post(INVOICES, one_off(fees=[])), "fees_not_found")
    assert_not_found(api.post(INVOICES, {"invoice": {"external_customer_id": "cust_1"}}), "fees_not_found")
    assert_nothing_billed()


def test_an_unknown_deleted_or_foreign_add_on_is_404(api, customer, setup_fee, other_organization):
    assert_not_found(api.post(INVOICES, one_off(fees=[{"add_on_code": "nope"}])), "add_on_not_found")
    # One unknown add-on among known ones bills nothing.
    both = [{"add_on_code": "setup"}, {"add_on_code": "nope"}]
    assert_not_found(api.post(INVOICES, one_off(fees=both)), "add_on_not_found")
    AddOn.objects.create(
        organization=other_organization, code="theirs", name="Theirs", amount_cents=1, amount_currency="EUR"
    )
    assert_not_found(api.post(INVOICES, one_off(fees=[{"add_on_code": "theirs"}])), "add_on_not_found")
    delete_add_on(add_on=setup_fee)
    assert_not_found(api.post(INVOICES, one_off()), "add_on_not_found")
    assert_nothing_billed()


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"currency": "USD"}, {"currency": ["currencies_does_not_match"]}),
        ({"currency": "EURO"}, {"currency": ["value_is_invalid"]}),
        ({"fees": [{"add_on_code": "setup", "units": 0}]}, {"units": ["value_is_invalid"]}),
        ({"fees": [{"add_on_code": "setup", "units": -1.5}]}, {"units": ["value_is_invalid"]}),
        ({"fees": [{"add_on_code": "setup", "units": "2"}]}, {"units": ["value_is_invalid"]}),
        ({"fees": [{"add_on_code": "setup", "unit_amount_cents": -1}]}, {"unit_amount_cents": ["value_is_invalid"]}),
        ({"fees": [{"add_on_code": "setup", "unit_amount_cents": 1.5}]}, {"unit_amount_cents": ["value_is_invalid"]}),
        ({"fees": [{"add_on_code": "setup", "description": "x" * 256}]}, {"description": ["value_is_too_long"]}),
        ({"fees": [{"add_on_code": "setup", "colour": "red"}]}, {"colour": ["unknown_field"]}),
        ({"fees": [{"add_on_code": "setup", "tax_codes": ["vat"]}]}, {"tax_codes": ["not_supported"]}),
        ({"fees": [{"add_on_code": "setup", "from_datetime": "2026-01-01"}]}, {"from_datetime": ["not_supported"]}),
        ({"fees": [{"add_on_code": ["setup"]}]}, {"add_on_code": ["value_is_invalid"]}),
        ({"fees": {"add_on_code": "setup"}}, {"fees": ["value_is_invalid"]}),
        ({"fees": [None]}, {"fees": ["value_is_mandatory"]}),
        ({"billing_entity_code": "eu"}, {"billing_entity_code": ["not_supported"]}),
        ({"purchase_order_number": "PO-1"}, {"purchase_order_number": ["not_supported"]}),
        ({"skip_psp": True}, {"skip_psp": ["not_supported"]}),
        ({"due_date": "2026-03-01"}, {"due_date": ["unknown_field"]}),
    ],
)
def test_bad_bodies_are_422_and_bill_nothing(api, customer, setup_fee, fields, details):
    assert errors_of(api.post(INVOICES, one_off(**fields))) == details
    assert_nothing_billed()
    assert Customer.objects.get(pk=customer.pk).currency == "EUR"


def test_lagos_neutral_options_pass(api, customer, setup_fee):
    body = one_off(billing_entity_code="default", skip_psp=False, purchase_order_number=None)
    body["invoice"]["fees"][0].update(tax_codes=[], from_datetime=None)
    assert api.post(INVOICES, body).status_code == 200


def test_a_body_without_its_root_key_is_400(api, customer, setup_fee):
    response = api.post(INVOICES, {"external_customer_id": "cust_1"})
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "error": "BadRequest: param is missing or the value is empty or invalid: invoice",
    }
    assert_nothing_billed()


def test_a_deleted_customer_cannot_be_billed(api, organization, setup_fee):
    gone = CustomerFactory(organization=organization, external_id="gone", currency="EUR")
    delete_customer(customer=gone)
    assert_not_found(api.post(INVOICES, one_off(external_customer_id="gone")), "customer_not_found")
    assert_nothing_billed()


def test_a_subscription_plan_is_no_add_on(api, organization, customer):
    PlanFactory(organization=organization, code="setup")
    assert_not_found(api.post(INVOICES, one_off()), "add_on_not_found")


def test_without_a_key_it_is_401(client, customer, setup_fee):
    response = client.post(INVOICES, one_off(), content_type="application/json")
    assert response.status_code == 401 and response.json() == {"status": 401, "error": "Unauthorized"}
    assert_nothing_billed()


def test_the_schema_documents_the_one_off_invoice(client):
    schema = client.get("/api/schema", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/invoices"]["post"]
    assert operation["operationId"] == "create_one_off_invoice"
    assert set(operation["responses"]) == {"200", "400", "401", "404", "422", "429", "503"}
