"""Staff pages for customers: login, list, form, customer view."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from organizations.tests.factories import UserFactory
from plans.models import Subscription
from plans.tests.factories import PlanFactory, SubscriptionFactory


def form_data(**overrides) -> dict:
    data = {
        "name": "Acme",
        "external_id": "acme",
        "timezone": "",
        "currency": "",
        "country": "",
        "payment_provider": "",
        "metadata-TOTAL_FORMS": "0",
        "metadata-INITIAL_FORMS": "0",
        "metadata-MIN_NUM_FORMS": "0",
        "metadata-MAX_NUM_FORMS": "5",
    }
    data.update(overrides)
    return data


def metadata_rows(*rows, initial=0) -> dict:
    data = {"metadata-TOTAL_FORMS": str(len(rows)), "metadata-INITIAL_FORMS": str(initial)}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"metadata-{index}-{key}"] = value
    return data


def field_errors(html: str, field: str) -> str:
    """The error text rendered inside the container of `field`."""
    match = re.search(rf'<div class="field has-error">\s*<label for="id_{field}">.*?</div>\s*(.*?)</div>', html, re.S)
    return match.group(0) if match else ""


@pytest.mark.parametrize(
    "name",
    ["customers:list", "customers:create"],
)
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_customer_pages_require_login(client, organization):
    customer = CustomerFactory(organization=organization)
    for path in (reverse("customers:detail", args=[customer.pk]), reverse("customers:edit", args=[customer.pk])):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_login_with_email_and_password(client, staff_user):
    page = client.get(reverse("login")).content.decode()
    assert ">Email</label>" in page and ">Password</label>" in page
    response = client.post(reverse("login"), {"username": "staff@acme.test", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.get(reverse("customers:list")).status_code == 200


def test_wrong_password_is_refused(client, staff_user):
    response = client.post(reverse("login"), {"username": "staff@acme.test", "password": "nope"})
    assert response.status_code == 200 and b"Wrong email or password" in response.content


def test_forms_are_csrf_protected(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post(reverse("customers:create"), form_data())
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_list_shows_the_side_menu_and_add_button(staff_client, organization):
    CustomerFactory(organization=organization, name="Acme Corp")
    page = staff_client.get(reverse("customers:list")).content.decode()
    assert ">Customers</a>" in page and "Add a customer" in page and "Acme Corp" in page


def test_list_searches_name_external_id_and_email(staff_client, organization, other_organization):
    CustomerFactory(organization=organization, name="Acme", external_id="a-1", email="x@one.test")
    CustomerFactory(organization=organization, name="Globex", external_id="g-1", email="pay@acme.test")
    CustomerFactory(organization=organization, name="Initech", external_id="acme-legacy", email="x@two.test")
    CustomerFactory(organization=organization, name="Hooli", external_id="h-1", email="x@three.test")
    CustomerFactory(organization=other_organization, name="Acme elsewhere")
    page = staff_client.get(reverse("customers:list"), {"q": "acme"}).content.decode()
    assert "Acme" in page and "Globex" in page and "Initech" in page
    assert "Hooli" not in page and "Acme elsewhere" not in page


def test_search_without_match_says_so(staff_client, organization):
    CustomerFactory(organization=organization)
    page = staff_client.get(reverse("customers:list"), {"q": "zzz"}).content.decode()
    assert "No customer matches" in page


def test_htmx_search_returns_only_the_table(staff_client, organization):
    CustomerFactory(organization=organization, name="Acme")
    response = staff_client.get(
        reverse("customers:list"), {"q": "Acme"}, headers={"HX-Request": "true", "HX-Target": "customer-table"}
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="customer-table">') and "Acme" in page and "<nav" not in page


def test_list_is_paginated_newest_first_with_fixed_queries(staff_client, organization, django_assert_max_num_queries):
    CustomerFactory.create_batch(3, organization=organization)
    with django_assert_max_num_queries(8) as small:
        staff_client.get(reverse("customers:list"))
    CustomerFactory.create_batch(45, organization=organization)
    with django_assert_max_num_queries(8) as large:
        response = staff_client.get(reverse("customers:list"))
    assert len(small.captured_queries) == len(large.captured_queries)
    assert "Page 1 of 3" in response.content.decode()
    newest = Customer.objects.order_by("-created_at").first()
    assert response.context["page"].object_list[0] == newest


def test_create_customer_with_billing_information_and_metadata(staff_client, organization):
    data = form_data(
        name="Acme",
        external_id="acme",
        timezone="Europe/Paris",
        currency="EUR",
        legal_name="Acme SAS",
        email="billing@acme.test",
        address_line1="1 rue de la Paix",
        city="Paris",
        zipcode="75002",
        country="FR",
        payment_provider="gocardless",
        provider_customer_id="CU123",
        **metadata_rows(
            {"key": "crm", "value": "42", "display_in_invoice": "on"},
            {"key": "segment", "value": "smb"},
        ),
    )
    response = staff_client.post(reverse("customers:create"), data)
    customer = Customer.objects.get(external_id="acme")
    assert response.status_code == 302 and response["Location"] == reverse("customers:detail", args=[customer.pk])
    assert (customer.organization, customer.timezone, customer.country) == (organization, "Europe/Paris", "FR")
    assert customer.payment_provider == "gocardless" and customer.provider_customer_id == "CU123"
    assert dict(customer.metadata.values_list("key", "display_in_invoice")) == {"crm": True, "segment": False}
    page = staff_client.get(response["Location"]).content.decode()
    assert "Acme SAS" in page and "crm" in page and "Actions" in page and "Edit customer" in page


def test_missing_external_id_shows_the_error_next_to_the_field(staff_client):
    response = staff_client.post(reverse("customers:create"), form_data(external_id=""))
    assert response.status_code == 200
    assert "This field is required." in field_errors(response.content.decode(), "external_id")
    assert not Customer.objects.exists()


def test_service_errors_show_next_to_their_field(staff_client, organization):
    CustomerFactory(organization=organization, external_id="taken")
    response = staff_client.post(
        reverse("customers:create"), form_data(external_id="taken", timezone="Mars/Base", email="nope")
    )
    page = response.content.decode()
    assert "Already used by another customer." in field_errors(page, "external_id")
    assert "Unknown timezone" in field_errors(page, "timezone")
    assert Customer.objects.count() == 1


def test_duplicate_metadata_keys_are_reported(staff_client):
    response = staff_client.post(
        reverse("customers:create"),
        form_data(**metadata_rows({"key": "k", "value": "1"}, {"key": "k", "value": "2"})),
    )
    assert "Each metadata key can be used only once." in response.content.decode()
    assert not Customer.objects.exists()


def test_edit_prefills_and_updates(staff_client, organization):
    customer = CustomerFactory(organization=organization, name="Old name", external_id="c1")
    item = CustomerMetadataFactory(customer=customer, key="crm", value="1")
    page = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert 'value="Old name"' in page and "Save customer" in page
    data = form_data(
        name="New name",
        external_id="c1",
        **metadata_rows({"id": str(item.id), "key": "crm", "value": "2", "DELETE": ""}, initial=1),
    )
    response = staff_client.post(reverse("customers:edit", args=[customer.pk]), data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "New name"
    assert list(customer.metadata.values_list("id", "value")) == [(item.id, "2")]


def test_edit_removes_a_metadata_row_marked_deleted(staff_client, organization):
    customer = CustomerFactory(organization=organization, external_id="c1")
    item = CustomerMetadataFactory(customer=customer, key="crm", value="1")
    data = form_data(
        external_id="c1", **metadata_rows({"id": str(item.id), "key": "crm", "value": "1", "DELETE": "on"}, initial=1)
    )
    staff_client.post(reverse("customers:edit", args=[customer.pk]), data)
    assert not customer.metadata.exists()


def test_rule_locked_external_id_is_read_only_with_the_reason(staff_client, organization):
    customer = CustomerFactory(organization=organization, external_id="locked", name="Before")
    CustomerMetadataFactory(customer=customer, key="crm")
    SubscriptionFactory(customer=customer, status="terminated")
    page = staff_client.get(reverse("customers:edit", args=[customer.pk])).content.decode()
    assert re.search(r'name="external_id"[^>]*readonly', page)
    assert "already has a subscription" in page
    # A forged POST with another id is refused next to the field, and nothing is saved.
    rows = metadata_rows({"id": str(customer.metadata.get().id), "key": "crm", "value": "v"}, initial=1)
    response = staff_client.post(
        reverse("customers:edit", args=[customer.pk]), form_data(external_id="renamed", name="After", **rows)
    )
    assert response.status_code == 200
    assert "already has a subscription" in field_errors(response.content.decode(), "external_id")
    customer.refresh_from_db()
    assert (customer.external_id, customer.name) == ("locked", "Before")


def test_another_organizations_customer_is_a_404(staff_client, other_organization):
    theirs = CustomerFactory(organization=other_organization)
    for name in ("customers:detail", "customers:edit"):
        assert staff_client.get(reverse(name, args=[theirs.pk])).status_code == 404


def test_a_deleted_customer_keeps_a_read_only_page_and_its_actions_are_404(staff_client, organization):
    customer = CustomerFactory(organization=organization)
    customer.deleted_at = customer.created_at
    customer.save()
    # Its page is read-only (customers/tests/test_deletion_views.py); every action is gone.
    page = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert "Deleted on" in page and "Actions" not in page
    for name in ("customers:edit", "customers:assign_plan", "customers:apply_coupon", "customers:delete"):
        assert staff_client.get(reverse(name, args=[customer.pk])).status_code == 404


def test_customer_view_tabs_load_as_htmx_fragments(staff_client, organization):
    customer = CustomerFactory(organization=organization, name="Acme")
    page = staff_client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert f'hx-get="/customers/{customer.pk}/overview/"' in page
    fragment = staff_client.get(
        reverse("customers:tab", args=[customer.pk, "overview"]),
        headers={"HX-Request": "true", "HX-Target": "tab-panel"},
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="tab-panel">') and '<nav class="side-menu"' not in fragment


def test_user_without_organization_sees_a_clear_page(db):
    user = UserFactory(organization=None)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("customers:list"))
    assert response.status_code == 403 and b"belongs to no organization" in response.content


def terminate_url(customer, subscription) -> str:
    return reverse("customers:terminate_subscription", args=[customer.pk, subscription.pk])


def test_terminate_ends_an_active_subscription_and_cancels_a_pending_one(staff_client, organization):
    customer = CustomerFactory(organization=organization)
    active = SubscriptionFactory(customer=customer)
    later = timezone.now() + timedelta(days=7)
    pending = SubscriptionFactory(customer=customer, status="pending", subscription_at=later, started_at=None)
    response = staff_client.post(terminate_url(customer, active), follow=True)
    assert response.redirect_chain[-1][0] == reverse("customers:tab", args=[customer.pk, "subscriptions"])
    assert "Subscription terminated." in response.content.decode()
    assert "Subscription canceled." in staff_client.post(terminate_url(customer, pending), follow=True).content.decode()
    statuses = dict(Subscription.objects.values_list("pk", "status"))
    assert (statuses[active.pk], statuses[pending.pk]) == ("terminated", "canceled")
    # Once ended, the service's refusal reads as a sentence and changes nothing.
    again = staff_client.post(terminate_url(customer, active), follow=True).content.decode()
    assert "This subscription has already ended." in again


def test_terminate_only_reaches_the_customers_own_subscriptions(staff_client, organization, other_organization):
    customer = CustomerFactory(organization=organization)
    neighbour = SubscriptionFactory(customer=CustomerFactory(organization=organization))
    foreign = SubscriptionFactory(customer=CustomerFactory(organization=other_organization))
    assert staff_client.post(terminate_url(customer, neighbour)).status_code == 404
    assert staff_client.post(terminate_url(foreign.customer, foreign)).status_code == 404
    assert set(Subscription.objects.values_list("status", flat=True)) == {"active"}


def test_assigning_a_plan_in_another_currency_names_both_currencies(staff_client, organization):
    customer = CustomerFactory(organization=organization, currency="EUR")
    plan = PlanFactory(organization=organization, code="usd_plan", amount_currency="USD")
    response = staff_client.post(
        reverse("customers:assign_plan", args=[customer.pk]),
        {"plan": plan.pk, "external_id": "sub_usd", "start_date": timezone.localdate(), "billing_time": "calendar"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["plan"] == [
        "This plan is priced in USD and the customer is billed in EUR: choose a plan in EUR."
    ]
    assert not Subscription.objects.exists()
