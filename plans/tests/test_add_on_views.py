"""Staff pages for add-ons: list, create, edit, delete."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from plans import services
from plans.models import AddOn


def make_add_on(organization, code="setup", amount_cents=50000, currency="EUR", **overrides) -> AddOn:
    data = {
        "name": code.replace("_", " ").title(),
        "code": code,
        "amount_cents": amount_cents,
        "amount_currency": currency,
        **overrides,
    }
    return services.create_add_on(organization=organization, data=data)


def add_on_data(**overrides) -> dict:
    return {
        "name": "Setup fee",
        "code": "setup",
        "invoice_display_name": "",
        "description": "",
        "amount": "499.99",
        "amount_currency": "EUR",
        **overrides,
    }


def field_errors(html: str, field: str) -> str:
    """The error text rendered for `field`, as plain text, or ""."""
    match = re.search(rf'<div class="field-error" id="id_{re.escape(field)}_error"[^>]*>(.*?)</div>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def test_pages_require_login(client, organization):
    add_on = make_add_on(organization)
    for path in (
        reverse("plans:add_on_list"),
        reverse("plans:add_on_create"),
        reverse("plans:add_on_edit", args=[add_on.pk]),
        reverse("plans:add_on_delete", args=[add_on.pk]),
    ):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.post(reverse("plans:add_on_delete", args=[add_on.pk]))
    add_on.refresh_from_db()
    assert add_on.deleted_at is None


def test_side_menu_highlights_add_ons(staff_client):
    page = staff_client.get(reverse("plans:add_on_list")).content.decode()
    menu = page[page.index('<nav class="side-menu"') : page.index("</nav>")]
    assert re.search(r'class="active">Add-ons<', menu) and not re.search(r'class="active">Plans<', menu)


def test_other_organizations_add_ons_are_404(staff_client, other_organization):
    add_on = make_add_on(other_organization)
    for name in ("plans:add_on_edit", "plans:add_on_delete"):
        path = reverse(name, args=[add_on.pk])
        assert staff_client.get(path).status_code == 404
        assert staff_client.post(path, add_on_data(name="Stolen")).status_code == 404
    add_on.refresh_from_db()
    assert (add_on.name, add_on.deleted_at) == ("Setup", None)


def test_list_is_scoped_newest_first_with_amounts_in_their_currency(staff_client, organization, other_organization):
    old = make_add_on(organization, "training", amount_cents=1000, currency="JPY")
    AddOn.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    make_add_on(organization, "setup", amount_cents=123450, invoice_display_name="Onboarding")
    make_add_on(other_organization, "secret_add_on")
    page = staff_client.get(reverse("plans:add_on_list")).content.decode()
    assert "Add an add-on" in page
    assert page.index("setup") < page.index("training")
    assert "1,234.50 EUR" in page and "1,000 JPY" in page and "Onboarding" in page
    assert "secret_add_on" not in page


def test_list_empty_state(staff_client):
    page = staff_client.get(reverse("plans:add_on_list")).content.decode()
    assert "No add-ons yet" in page and "Add an add-on" in page


def test_list_is_paginated_with_a_fixed_number_of_queries(staff_client, organization, django_assert_num_queries):
    for index in range(3):
        make_add_on(organization, f"a{index}")
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(reverse("plans:add_on_list")).status_code == 200
    for index in range(3, 30):
        make_add_on(organization, f"a{index}")
    with django_assert_num_queries(len(small.captured_queries)):
        response = staff_client.get(reverse("plans:add_on_list"))
    assert response.content.decode().count('class="row-anchor"') == 20
    assert "Page 1 of 2" in response.content.decode()
    second = staff_client.get(reverse("plans:add_on_list"), {"page": 2}).content.decode()
    assert second.count('class="row-anchor"') == 10


def test_create_form_defaults_to_the_organizations_currency(staff_client, organization):
    organization.default_currency = "CHF"
    organization.save()
    page = staff_client.get(reverse("plans:add_on_create")).content.decode()
    assert '<option value="CHF" selected>' in page and "Create add-on" in page


def test_create_add_on(staff_client, organization):
    response = staff_client.post(
        reverse("plans:add_on_create"), add_on_data(invoice_display_name="Onboarding", description="Once")
    )
    assert response.status_code == 302 and response["Location"] == reverse("plans:add_on_list")
    add_on = AddOn.objects.get(organization=organization, code="setup")
    assert (add_on.name, add_on.amount_cents, add_on.amount_currency) == ("Setup fee", 49999, "EUR")
    assert (add_on.invoice_display_name, add_on.description) == ("Onboarding", "Once")
    assert "Add-on created." in staff_client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("amount", "currency", "cents"),
    [("49.99", "EUR", 4999), ("1000", "JPY", 1000), ("0", "USD", 0), ("12.5", "USD", 1250), ("1.005", "KWD", 1005)],
)
def test_amount_in_major_units_becomes_minor_units(staff_client, organization, amount, currency, cents):
    response = staff_client.post(reverse("plans:add_on_create"), add_on_data(amount=amount, amount_currency=currency))
    assert response.status_code == 302
    add_on = AddOn.objects.get(organization=organization, code="setup")
    assert (add_on.amount_cents, add_on.amount_currency) == (cents, currency)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": "49.999"}, "amount", "EUR amounts have at most 2 decimals."),
        ({"amount": "10.5", "amount_currency": "JPY"}, "amount", "JPY has no minor unit: enter a whole amount."),
        ({"amount": "-1"}, "amount", "Enter an amount of 0 or more, such as 49.99."),
        ({"amount": "1,000.00"}, "amount", "Use a dot for decimals and no thousands separator, such as 1234.50."),
        ({"amount": ""}, "amount", "This field is required."),
        ({"amount": "99999999999999"}, "amount", "This amount is too large."),
        ({"name": ""}, "name", "This field is required."),
        ({"code": "   "}, "code", "This field is required."),
        (
            {"amount_currency": "XXX"},
            "amount_currency",
            "Select a valid choice. XXX is not one of the available choices.",
        ),
    ],
)
def test_errors_are_shown_next_to_their_field_and_create_nothing(staff_client, overrides, field, message):
    response = staff_client.post(reverse("plans:add_on_create"), add_on_data(**overrides))
    assert response.status_code == 200
    assert field_errors(response.content.decode(), field) == message
    assert not AddOn.objects.exists()


def test_duplicate_code_is_shown_next_to_the_code(staff_client, organization):
    make_add_on(organization, "setup")
    response = staff_client.post(reverse("plans:add_on_create"), add_on_data(name="Another"))
    assert field_errors(response.content.decode(), "code") == "Already used by another add-on."
    assert AddOn.objects.count() == 1


def test_edit_prefills_and_updates(staff_client, organization):
    add_on = make_add_on(organization, "setup", amount_cents=1050, description="First")
    page = staff_client.get(reverse("plans:add_on_edit", args=[add_on.pk])).content.decode()
    assert 'value="10.50"' in page and 'value="setup"' in page and "First" in page and "Save add-on" in page
    response = staff_client.post(
        reverse("plans:add_on_edit", args=[add_on.pk]), add_on_data(name="Setup 2", amount="20", amount_currency="USD")
    )
    assert response.status_code == 302
    add_on.refresh_from_db()
    assert (add_on.name, add_on.amount_cents, add_on.amount_currency, add_on.description) == (
        "Setup 2",
        2000,
        "USD",
        None,
    )


def test_edit_error_changes_nothing(staff_client, organization):
    make_add_on(organization, "training")
    add_on = make_add_on(organization, "setup")
    response = staff_client.post(reverse("plans:add_on_edit", args=[add_on.pk]), add_on_data(code="training"))
    assert field_errors(response.content.decode(), "code") == "Already used by another add-on."
    add_on.refresh_from_db()
    assert (add_on.code, add_on.name) == ("setup", "Setup")


def test_delete_with_confirmation(staff_client, organization):
    add_on = make_add_on(organization, "setup", amount_cents=50000)
    page = staff_client.get(reverse("plans:add_on_delete", args=[add_on.pk])).content.decode()
    assert "Delete Setup?" in page and "500.00 EUR" in page and "Delete add-on" in page
    add_on.refresh_from_db()
    assert add_on.deleted_at is None  # a GET never deletes
    response = staff_client.post(reverse("plans:add_on_delete", args=[add_on.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("plans:add_on_list")
    add_on.refresh_from_db()
    assert add_on.deleted_at is not None
    listing = staff_client.get(response["Location"]).content.decode()
    assert "Add-on Setup deleted." in listing and 'class="mono">setup<' not in listing
    assert staff_client.get(reverse("plans:add_on_edit", args=[add_on.pk])).status_code == 404
    # Its code is free for a new add-on.
    assert staff_client.post(reverse("plans:add_on_create"), add_on_data()).status_code == 302
