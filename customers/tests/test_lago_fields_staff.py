"""Lago's remaining customer fields in the staff form, the customer page and the admin."""

import re

import pytest
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from customers.tests.test_admin import admin_page_data
from customers.tests.test_views import field_errors, form_data
from organizations.models import User

SHIPPING = {
    "shipping_address_shown": "1",
    "shipping_address_line1": "5 Dock Road",
    "shipping_address_line2": "Gate B",
    "shipping_zipcode": "3011",
    "shipping_city": "Rotterdam",
    "shipping_state": "South Holland",
    "shipping_country": "NL",
}


def test_the_form_creates_a_customer_with_every_new_field(staff_client, organization):
    data = form_data(
        firstname="Ada",
        lastname="Lovelace",
        customer_type="individual",
        net_payment_term="0",
        document_locale="fr",
        finalize_zero_amount_invoice="skip",
        **SHIPPING,
    )
    response = staff_client.post(reverse("customers:create"), data)
    assert response.status_code == 302, response.content.decode()
    customer = Customer.objects.get(external_id="acme")
    assert (customer.firstname, customer.lastname, customer.customer_type) == ("Ada", "Lovelace", "individual")
    assert (customer.net_payment_term, customer.document_locale) == (0, "fr")
    assert customer.finalize_zero_amount_invoice == "skip"
    assert customer.shipping_address == {
        "address_line1": "5 Dock Road",
        "address_line2": "Gate B",
        "city": "Rotterdam",
        "zipcode": "3011",
        "state": "South Holland",
        "country": "NL",
    }


def test_empty_new_fields_mean_null_and_inherit(staff_client, organization):
    response = staff_client.post(reverse("customers:create"), form_data(net_payment_term="", document_locale=""))
    assert response.status_code == 302
    customer = Customer.objects.get(external_id="acme")
    assert (customer.net_payment_term, customer.document_locale, customer.customer_type) == (None, None, None)
    assert customer.finalize_zero_amount_invoice == "inherit"


def test_the_customer_page_shows_the_new_fields(staff_client, organization):
    customer = CustomerFactory(
        organization=organization,
        firstname="Ada",
        lastname="Lovelace",
        customer_type="company",
        net_payment_term=45,
        document_locale="de",
        finalize_zero_amount_invoice="skip",
        shipping_address_line1="5 Dock Road",
        shipping_city="Rotterdam",
        shipping_country="NL",
    )
    page = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "<dt>First name</dt><dd>Ada</dd>" in page and "<dt>Last name</dt><dd>Lovelace</dd>" in page
    assert "<dt>Customer type</dt><dd>Company</dd>" in page
    assert re.search(r"<dt>Shipping address</dt>\s*<dd>5 Dock Road<br>\s*Rotterdam<br>Netherlands \(NL\)</dd>", page)
    assert "<dt>Net payment term</dt><dd>45 days</dd>" in page
    assert "<dt>Document language</dt><dd>German (de)</dd>" in page
    assert "<dt>Zero-amount invoices</dt><dd>Closed without a number</dd>" in page


def test_the_customer_page_says_which_settings_are_the_organizations(staff_client, organization):
    organization.net_payment_term = 1
    organization.save()
    customer = CustomerFactory(organization=organization)
    page = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert '<dt>Net payment term</dt><dd>1 day <span class="muted">(organization\'s)</span></dd>' in page
    assert 'Finalized <span class="muted">(organization\'s)</span>' in page
    assert "Shipping address" not in page and "Document language" not in page


def test_rule_the_shipping_fields_appear_once_asked_for(staff_client, organization):
    page = staff_client.get(reverse("customers:create")).content.decode()
    assert 'name="shipping_city"' not in page and "Add a shipping address" in page
    page = staff_client.get(reverse("customers:create"), {"shipping": "1"}).content.decode()
    assert 'name="shipping_city"' in page and 'name="shipping_address_shown"' in page
    assert "Add a shipping address" not in page


def test_rule_the_edit_form_shows_the_shipping_address_a_customer_has(staff_client, organization):
    customer = CustomerFactory(organization=organization, shipping_city="Rotterdam")
    page = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert re.search(r'name="shipping_city" value="Rotterdam"', page)


def test_rule_a_form_that_did_not_show_the_shipping_address_never_writes_it(staff_client, organization):
    # Set through the API after the form was opened without it: the form's save keeps it.
    customer = CustomerFactory(organization=organization, external_id="c1", shipping_city="Rotterdam")
    response = staff_client.post(reverse("customers:edit", args=[customer.pk]), form_data(external_id="c1"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.shipping_city == "Rotterdam"


def test_rule_emptied_shipping_fields_clear_the_shipping_address(staff_client, organization):
    customer = CustomerFactory(organization=organization, external_id="c1", shipping_city="Rotterdam")
    data = form_data(external_id="c1", shipping_address_shown="1", shipping_city="", shipping_country="")
    assert staff_client.post(reverse("customers:edit", args=[customer.pk]), data).status_code == 302
    customer.refresh_from_db()
    assert customer.shipping_city is None and not customer.has_shipping_address


def test_rule_a_zero_day_payment_term_is_shown_as_0_not_as_the_organizations(staff_client, organization):
    customer = CustomerFactory(organization=organization, net_payment_term=0)
    page = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert re.search(r'name="net_payment_term" value="0"', page)


def test_service_errors_on_new_fields_show_next_to_them(staff_client, organization):
    response = staff_client.post(reverse("customers:create"), form_data(net_payment_term="400"))
    assert response.status_code == 200
    assert "This value is out of range." in field_errors(response.content.decode(), "net_payment_term")
    response = staff_client.post(reverse("customers:create"), form_data(**{**SHIPPING, "shipping_country": "ZZ"}))
    assert "Select a valid choice." in field_errors(response.content.decode(), "shipping_country")
    assert not Customer.objects.exists()


def test_the_list_search_finds_first_and_last_names(staff_client, organization):
    CustomerFactory(organization=organization, name="Analytical Engines", firstname="Ada", lastname="Lovelace")
    CustomerFactory(organization=organization, name="Other")
    response = staff_client.get(reverse("customers:list"), {"q": "lovel"})
    assert [customer.name for customer in response.context["page"].object_list] == ["Analytical Engines"]


# The admin ----------------------------------------------------------------------------------------


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def test_admin_edits_the_new_fields_through_the_service(support_client, organization):
    customer = CustomerFactory(organization=organization)
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, _ = admin_page_data(support_client, url)
    data.update(shipping_country="NL", document_locale="EN", finalize_zero_amount_invoice="skip", lastname="Byron")
    response = support_client.post(url, data)
    assert response.status_code == 302, response.content.decode()
    customer.refresh_from_db()
    assert (customer.shipping_country, customer.document_locale) == ("NL", "en")
    assert (customer.finalize_zero_amount_invoice, customer.lastname) == ("skip", "Byron")


def test_admin_shows_the_services_refusal_next_to_the_field(support_client, organization):
    customer = CustomerFactory(organization=organization)
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data, _ = admin_page_data(support_client, url)
    data.update(document_locale="zz", net_payment_term="400")
    response = support_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["document_locale"] == ["This value is not valid."]
    assert errors["net_payment_term"] == ["This value is out of range."]


def test_admin_add_refuses_a_bad_value_next_to_the_field_rather_than_failing(support_client, organization):
    data, _ = admin_page_data(support_client, reverse("admin:customers_customer_add"))
    data.update(organization=str(organization.pk), external_id="new", shipping_country="ZZ")
    response = support_client.post(reverse("admin:customers_customer_add"), data)
    assert response.status_code == 200
    # The country is a list in the admin, as in the staff form: a code not on it is refused there.
    [error] = response.context["adminform"].form.errors["shipping_country"]
    assert "ZZ is not one of the available choices" in error
    assert not Customer.objects.exists()
