"""Lago's remaining customer fields, one rule per test: first and last name, customer type, shipping
address, net payment term, document locale and `finalize_zero_amount_invoice`, through the service
and the API."""

from datetime import date

import pytest

from billing.errors import ValidationFailed
from customers.models import Customer
from customers.services import create_customer, update_customer, upsert_customer
from customers.tests.factories import CustomerFactory
from invoicing.payment_terms import payment_terms

FULL_SHIPPING = {
    "address_line1": "5 Dock Road",
    "address_line2": "Gate B",
    "city": "Rotterdam",
    "zipcode": "3011",
    "state": "South Holland",
    "country": "nl",
}


def body(**fields) -> dict:
    return {"customer": fields}


def upsert(api, **fields) -> dict:
    response = api.post("/api/v1/customers", body(**fields))
    assert response.status_code == 200, response.content
    return response.json()["customer"]


def refused(api, **fields) -> dict:
    response = api.post("/api/v1/customers", body(**fields))
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


# The customer object --------------------------------------------------------------------------


def test_a_bare_customer_shows_every_new_field_in_lagos_shape(api):
    customer = upsert(api, external_id="c1")
    assert {key: customer[key] for key in ("firstname", "lastname", "customer_type", "net_payment_term")} == {
        "firstname": None,
        "lastname": None,
        "customer_type": None,
        "net_payment_term": None,
    }
    assert customer["finalize_zero_amount_invoice"] == "inherit"
    assert customer["billing_configuration"]["document_locale"] is None
    assert customer["shipping_address"] == dict.fromkeys(FULL_SHIPPING)


def test_every_new_field_is_stored_and_read_back(api):
    upsert(
        api,
        external_id="c1",
        firstname="Ada",
        lastname="Lovelace",
        customer_type="individual",
        net_payment_term=30,
        finalize_zero_amount_invoice="skip",
        shipping_address=FULL_SHIPPING,
        billing_configuration={"document_locale": "fr"},
    )
    customer = api.get("/api/v1/customers/c1").json()["customer"]
    assert (customer["firstname"], customer["lastname"], customer["customer_type"]) == ("Ada", "Lovelace", "individual")
    assert (customer["net_payment_term"], customer["finalize_zero_amount_invoice"]) == (30, "skip")
    assert customer["billing_configuration"]["document_locale"] == "fr"
    assert customer["shipping_address"] == {**FULL_SHIPPING, "country": "NL"}
    stored = Customer.objects.get()
    assert (stored.shipping_city, stored.shipping_country, stored.document_locale) == ("Rotterdam", "NL", "fr")


# Shipping address: the billing address's never-wipe rule, one level down ----------------------


def test_rule_shipping_address_upsert_keeps_the_keys_it_did_not_receive(api):
    upsert(api, external_id="c1", shipping_address=FULL_SHIPPING)
    customer = upsert(api, external_id="c1", shipping_address={"city": "Delft"})
    assert customer["shipping_address"] == {**FULL_SHIPPING, "country": "NL", "city": "Delft"}


def test_rule_shipping_address_absent_keeps_it_whole(api):
    upsert(api, external_id="c1", shipping_address=FULL_SHIPPING)
    customer = upsert(api, external_id="c1", name="Renamed")
    assert customer["shipping_address"] == {**FULL_SHIPPING, "country": "NL"}


def test_rule_shipping_address_explicit_null_or_empty_clears_that_key_only(api):
    upsert(api, external_id="c1", shipping_address=FULL_SHIPPING)
    customer = upsert(api, external_id="c1", shipping_address={"address_line2": None, "state": ""})
    assert customer["shipping_address"] == {**FULL_SHIPPING, "country": "NL", "address_line2": None, "state": None}


def test_rule_shipping_and_billing_addresses_never_touch_each_other(api):
    upsert(api, external_id="c1", city="Paris", shipping_address={"city": "Rotterdam"})
    customer = upsert(api, external_id="c1", city="Lyon")
    assert (customer["city"], customer["shipping_address"]["city"]) == ("Lyon", "Rotterdam")
    customer = upsert(api, external_id="c1", shipping_address={"city": None})
    assert (customer["city"], customer["shipping_address"]["city"]) == ("Lyon", None)


def test_rule_shipping_address_null_is_refused_as_billing_configuration_is(api):
    upsert(api, external_id="c1", shipping_address=FULL_SHIPPING)
    assert refused(api, external_id="c1", shipping_address=None) == {"shipping_address": ["value_is_mandatory"]}
    assert refused(api, external_id="c1", shipping_address="Rotterdam") == {"shipping_address": ["value_is_invalid"]}
    assert api.get("/api/v1/customers/c1").json()["customer"]["shipping_address"]["city"] == "Rotterdam"


def test_rule_shipping_address_errors_name_lagos_shipping_field(api):
    assert refused(api, external_id="c1", shipping_address={"country": "ZZ"}) == {
        "shipping_country": ["not_a_valid_country_code"]
    }
    assert refused(api, external_id="c1", shipping_address={"city": "x" * 256, "zipcode": True}) == {
        "shipping_zipcode": ["value_is_invalid"]  # JSON types are answered before the rules
    }
    assert refused(api, external_id="c1", shipping_address={"city": "x" * 256}) == {
        "shipping_city": ["value_is_too_long"]
    }
    assert refused(api, external_id="c1", shipping_address={"street": "5 Dock Road"}) == {"street": ["unknown_field"]}
    assert not Customer.objects.exists()


def test_rule_shipping_country_is_upper_cased(organization):
    customer = create_customer(organization=organization, data={"external_id": "c1", "shipping_country": "de"})
    assert customer.shipping_country == "DE"


def test_rule_an_update_writes_only_the_shipping_keys_it_received(api, organization):
    CustomerFactory(organization=organization, external_id="c1", shipping_city="Rotterdam", shipping_country="NL")
    response = api.put("/api/v1/customers/c1", body(shipping_address={"zipcode": "3011"}))
    assert response.status_code == 200, response.content
    assert response.json()["customer"]["shipping_address"] == {
        **dict.fromkeys(FULL_SHIPPING),
        "city": "Rotterdam",
        "country": "NL",
        "zipcode": "3011",
    }


# First and last name ------------------------------------------------------------------------------


def test_rule_firstname_and_lastname_are_optional_text(api):
    customer = upsert(api, external_id="c1", firstname="Ada", lastname="Lovelace")
    assert (customer["firstname"], customer["lastname"]) == ("Ada", "Lovelace")
    customer = upsert(api, external_id="c1", firstname=None, lastname="")
    assert (customer["firstname"], customer["lastname"]) == (None, None)
    assert refused(api, external_id="c1", lastname="x" * 256) == {"lastname": ["value_is_too_long"]}
    assert refused(api, external_id="c1", firstname=["Ada"]) == {"firstname": ["value_is_invalid"]}


def test_rule_search_term_matches_firstname_and_lastname(api, organization):
    CustomerFactory(organization=organization, external_id="c1", name="Analytical Engines", firstname="Ada")
    CustomerFactory(organization=organization, external_id="c2", name="Difference Ltd", lastname="Babbage")
    CustomerFactory(organization=organization, external_id="c3", name="Other")
    for term, expected in [("ada", ["c1"]), ("BABB", ["c2"]), ("engines", ["c1"])]:
        found = api.get("/api/v1/customers", search_term=term).json()
        assert [c["external_id"] for c in found["customers"]] == expected, term
        assert found["meta"]["total_count"] == len(expected)


# Customer type ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["company", "individual"])
def test_rule_customer_type_is_company_or_individual(api, value):
    assert upsert(api, external_id="c1", customer_type=value)["customer_type"] == value


def test_rule_customer_type_null_clears_and_other_values_are_refused(api):
    upsert(api, external_id="c1", customer_type="company")
    assert upsert(api, external_id="c1", customer_type=None)["customer_type"] is None
    for value in ("partner", "Company", 1):
        assert refused(api, external_id="c1", customer_type=value) == {"customer_type": ["value_is_invalid"]}


# Net payment term ---------------------------------------------------------------------------------


def test_rule_net_payment_term_is_days_null_meaning_the_organizations(api, organization):
    organization.net_payment_term = 15
    organization.save()
    customer = upsert(api, external_id="c1", net_payment_term=0)
    assert customer["net_payment_term"] == 0
    stored = Customer.objects.select_related("organization").get()
    assert payment_terms(stored, date(2026, 3, 1)) == {"net_payment_term": 0, "payment_due_date": date(2026, 3, 1)}
    customer = upsert(api, external_id="c1", net_payment_term=None)
    assert customer["net_payment_term"] is None
    stored = Customer.objects.select_related("organization").get()
    assert payment_terms(stored, date(2026, 3, 1)) == {"net_payment_term": 15, "payment_due_date": date(2026, 3, 16)}


def test_rule_net_payment_term_is_0_to_365_whole_days(api):
    assert upsert(api, external_id="c1", net_payment_term="30")["net_payment_term"] == 30
    assert refused(api, external_id="c1", net_payment_term=366) == {"net_payment_term": ["value_is_out_of_range"]}
    assert refused(api, external_id="c1", net_payment_term=-1) == {"net_payment_term": ["value_is_out_of_range"]}
    for value in (1.5, "soon", True):
        assert refused(api, external_id="c1", net_payment_term=value) == {"net_payment_term": ["value_is_invalid"]}
    assert Customer.objects.get().net_payment_term == 30


# Document locale ----------------------------------------------------------------------------------


def test_rule_document_locale_is_an_iso_639_1_code(api):
    customer = upsert(api, external_id="c1", billing_configuration={"document_locale": "DE"})
    assert customer["billing_configuration"]["document_locale"] == "de"
    for value in ("xx", "english", "en-US", "eng", 12):
        details = refused(api, external_id="c1", billing_configuration={"document_locale": value})
        assert details == {"document_locale": ["value_is_invalid"]}, value
    assert Customer.objects.get().document_locale == "de"


def test_rule_document_locale_is_kept_when_billing_configuration_omits_it(api):
    upsert(api, external_id="c1", billing_configuration={"document_locale": "fr", "payment_provider": "stripe"})
    customer = upsert(api, external_id="c1", billing_configuration={"payment_provider": "adyen"})
    assert customer["billing_configuration"] == {**customer["billing_configuration"], "document_locale": "fr"}
    customer = upsert(api, external_id="c1", billing_configuration={"document_locale": None})
    assert customer["billing_configuration"]["document_locale"] is None
    assert customer["billing_configuration"]["payment_provider"] == "adyen"


# finalize_zero_amount_invoice -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inherit", "finalize", "skip"])
def test_rule_finalize_zero_amount_invoice_takes_lagos_three_values(api, value):
    assert upsert(api, external_id="c1", finalize_zero_amount_invoice=value)["finalize_zero_amount_invoice"] == value


def test_rule_finalize_zero_amount_invoice_null_means_inherit(api):
    upsert(api, external_id="c1", finalize_zero_amount_invoice="skip")
    customer = upsert(api, external_id="c1", finalize_zero_amount_invoice=None)
    assert customer["finalize_zero_amount_invoice"] == "inherit"


def test_rule_finalize_zero_amount_invoice_other_values_are_lagos_invalid_value(api):
    upsert(api, external_id="c1", finalize_zero_amount_invoice="skip")
    for value in ("never", "", "SKIP", 0):
        details = refused(api, external_id="c1", finalize_zero_amount_invoice=value)
        assert details == {"finalize_zero_amount_invoice": ["invalid_value"]}, value
    assert upsert(api, external_id="c1", name="Kept")["finalize_zero_amount_invoice"] == "skip"


def test_rule_only_skip_closes_zero_amount_invoices(organization):
    customer = create_customer(organization=organization, data={"external_id": "c1"})
    assert customer.finalizes_zero_amount_invoices  # inherit: our organizations always finalize
    update_customer(customer=customer, data={"finalize_zero_amount_invoice": "finalize"})
    assert customer.finalizes_zero_amount_invoices
    update_customer(customer=customer, data={"finalize_zero_amount_invoice": "skip"})
    assert not Customer.objects.get(pk=customer.pk).finalizes_zero_amount_invoices


# The service, for the staff form and the admin ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"customer_type": "robot"}, {"customer_type": ["value_is_invalid"]}),
        ({"shipping_country": "ZZ"}, {"shipping_country": ["not_a_valid_country_code"]}),
        ({"shipping_state": "s" * 256}, {"shipping_state": ["value_is_too_long"]}),
        ({"document_locale": "zz"}, {"document_locale": ["value_is_invalid"]}),
        ({"finalize_zero_amount_invoice": "later"}, {"finalize_zero_amount_invoice": ["invalid_value"]}),
        ({"net_payment_term": 400}, {"net_payment_term": ["value_is_out_of_range"]}),
        ({"firstname": "f" * 256}, {"firstname": ["value_is_too_long"]}),
    ],
)
def test_invalid_new_fields_are_refused_and_change_nothing(organization, data, expected):
    customer = create_customer(organization=organization, data={"external_id": "c1", "name": "Before"})
    with pytest.raises(ValidationFailed) as exc:
        update_customer(customer=customer, data={"name": "After", **data})
    assert exc.value.details == expected
    customer.refresh_from_db()
    assert customer.name == "Before"


def test_upsert_of_a_new_customer_without_the_setting_stores_inherit(organization):
    customer, created = upsert_customer(organization=organization, data={"external_id": "c1"})
    assert created and customer.finalize_zero_amount_invoice == "inherit"
    assert Customer.objects.get().finalize_zero_amount_invoice == "inherit"
