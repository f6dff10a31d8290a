"""Staff pages for invoices: the list, the invoice page and its actions, the printable page, and
the customer's Invoices tab."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.services import update_customer
from customers.tests.factories import CustomerFactory, CustomerMetadataFactory
from invoicing.customer_deletion import delete_customer
from invoicing.lifecycle import void_invoice
from invoicing.models import Invoice
from invoicing.tests.test_invoices_api import billed_invoice, frozen_clock  # noqa: F401 (autouse fixture)
from organizations.tests.factories import UserFactory


@pytest.fixture
def draft(organization):
    customer = CustomerFactory(
        organization=organization, external_id="cust_draft", name="Draft Corp", invoice_grace_period=3
    )
    return billed_invoice(organization, customer=customer)


@pytest.fixture
def finalized(organization):
    customer = CustomerFactory(organization=organization, external_id="cust_final", name="Final Ltd")
    return billed_invoice(organization, customer=customer)


def test_every_page_requires_login(client, draft):
    for url in [
        "/invoices/",
        f"/invoices/{draft.pk}/",
        f"/invoices/{draft.pk}/print/",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    for action in ("finalize", "refresh", "void"):
        response = client.post(f"/invoices/{draft.pk}/{action}/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


def test_the_side_menu_has_invoices_after_customers_highlighted_on_its_pages(staff_client, draft):
    html = staff_client.get("/invoices/").content.decode()
    assert html.index(">Customers</a>") < html.index(">Invoices</a>")
    assert 'href="/invoices/" class="active">Invoices' in html
    detail = staff_client.get(f"/invoices/{draft.pk}/").content.decode()
    assert 'href="/invoices/" class="active">Invoices' in detail
    customers = staff_client.get("/customers/").content.decode()
    assert 'href="/invoices/" class="">Invoices' in customers


def test_list_shows_number_customer_status_payment_date_and_total(staff_client, draft, finalized):
    response = staff_client.get("/invoices/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "ACME-DRAFT" in html and "ACME-000001" in html
    assert "Draft Corp" in html and "Final Ltd" in html
    assert "105.00 EUR" in html and "Feb 1, 2026" in html
    assert html.index("ACME-000001") < html.index("ACME-DRAFT")  # newest first


def test_list_filters_by_status_and_searches_by_number_or_customer(staff_client, draft, finalized):
    def numbers(**params):
        return [invoice.pk for invoice in staff_client.get("/invoices/", params).context["page"].object_list]

    assert numbers(status="draft") == [draft.pk]
    assert numbers(status="finalized") == [finalized.pk]
    assert numbers(status="voided") == []
    assert numbers(status="bogus") == [finalized.pk, draft.pk]
    assert numbers(q="000001") == [finalized.pk]
    assert numbers(q="acme-draft") == [draft.pk]  # the provisional number a draft shows
    assert numbers(q="ACME") == [finalized.pk, draft.pk]
    assert numbers(q="draft corp") == [draft.pk]
    assert numbers(q="cust_fin") == [finalized.pk]
    assert numbers(q="cust", status="draft") == [draft.pk]
    assert "No invoice matches" in staff_client.get("/invoices/", {"q": "nothing"}).content.decode()


def test_list_answers_htmx_with_the_table_only(staff_client, finalized):
    response = staff_client.get(
        "/invoices/", {"q": "Final"}, headers={"HX-Request": "true", "HX-Target": "invoice-table"}
    )
    html = response.content.decode()
    assert html.strip().startswith('<section id="invoice-table">') and "ACME-000001" in html


def test_a_status_filter_swaps_the_count_in_the_title_with_the_table(staff_client, draft, finalized):
    """The Draft tab counts the drafts, not every invoice: the table's answer carries the title's
    count out of band (htmx swaps it by id)."""
    full = staff_client.get("/invoices/").content.decode()
    assert re.search(r'<span class="count" id="invoice-count"[^>]*>2</span>', full)
    html = staff_client.get(
        "/invoices/", {"status": "draft"}, headers={"HX-Request": "true", "HX-Target": "invoice-table"}
    ).content.decode()
    [count] = re.findall(r'<span class="count" id="invoice-count"[^>]*hx-swap-oob="true">(\d+)</span>', html)
    assert count == "1"


def test_list_is_paginated_in_the_database_with_a_fixed_number_of_queries(staff_client, organization):
    billed_invoice(organization)
    with CaptureQueriesContext(connection) as few:
        staff_client.get("/invoices/")
    for _ in range(22):
        billed_invoice(organization)
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get("/invoices/")
    assert len(many.captured_queries) == len(few.captured_queries)
    page = response.context["page"]
    assert len(page.object_list) == 20 and page.paginator.num_pages == 2
    assert len(staff_client.get("/invoices/", {"page": 2}).context["page"].object_list) == 3


def test_pages_are_scoped_to_the_organization(client, other_organization, draft):
    user = UserFactory(organization=other_organization, email="other@other.test")
    client.force_login(user)
    assert list(client.get("/invoices/").context["page"].object_list) == []
    assert client.get(f"/invoices/{draft.pk}/").status_code == 404
    assert client.get(f"/invoices/{draft.pk}/print/").status_code == 404
    assert client.post(f"/invoices/{draft.pk}/finalize/").status_code == 404
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


def test_a_draft_page_shows_fees_periods_totals_and_the_draft_actions(staff_client, draft):
    html = staff_client.get(f"/invoices/{draft.pk}/").content.decode()
    assert "ACME-DRAFT" in html and "(provisional)" in html
    assert "API calls" in html and "5.0" in html  # the charge fee with its units
    assert "Jan 1, 2026 – Jan 31, 2026" in html  # the billed period, last day included
    assert "100.00 EUR" in html and "105.00 EUR" in html
    assert ">Finalize</button>" in html and ">Refresh</button>" in html
    assert ">Void</button>" not in html
    assert f'href="/invoices/{draft.pk}/print/"' in html


def test_a_finalized_page_offers_void_only(staff_client, finalized):
    html = staff_client.get(f"/invoices/{finalized.pk}/").content.decode()
    assert ">Void</button>" in html
    assert ">Finalize</button>" not in html and ">Refresh</button>" not in html


def test_finalize_then_void_through_the_buttons(staff_client, draft, finalized):
    response = staff_client.post(f"/invoices/{draft.pk}/finalize/", follow=True)
    draft.refresh_from_db()
    assert draft.status == "finalized" and draft.number == "ACME-000002"
    assert "Invoice finalized." in response.content.decode()
    response = staff_client.post(f"/invoices/{draft.pk}/void/", follow=True)
    draft.refresh_from_db()
    assert draft.status == "voided"
    html = response.content.decode()
    assert "Invoice voided." in html and ">Void</button>" not in html


def test_refused_actions_say_why_and_change_nothing(staff_client, draft, finalized):
    response = staff_client.post(f"/invoices/{finalized.pk}/refresh/", follow=True)
    assert "Only a draft invoice can be finalized or refreshed." in response.content.decode()
    response = staff_client.post(f"/invoices/{draft.pk}/void/", follow=True)
    assert "Only a finalized invoice can be voided." in response.content.decode()
    assert Invoice.objects.get(pk=draft.pk).status == "draft"
    assert staff_client.get(f"/invoices/{draft.pk}/void/").status_code == 405


def test_refresh_button_recomputes_the_draft(staff_client, draft):
    response = staff_client.post(f"/invoices/{draft.pk}/refresh/")
    assert response.status_code == 302 and response["Location"] == f"/invoices/{draft.pk}/"
    assert Invoice.objects.get(pk=draft.pk).fees.count() == 2


def test_printable_page_of_a_draft_shows_the_live_customer(staff_client, organization, draft):
    customer = draft.customer
    CustomerMetadataFactory(customer=customer, key="po_number", value="PO-42", display_in_invoice=True)
    CustomerMetadataFactory(customer=customer, key="internal", value="secret", display_in_invoice=False)
    update_customer(customer=customer, data={"legal_name": "Draft Corporation SA", "city": "Lyon", "country": "FR"})
    html = staff_client.get(f"/invoices/{draft.pk}/print/").content.decode()
    assert "Acme Billing" in html  # the organization
    assert "Draft Corporation SA" in html and "Lyon" in html and "France" in html
    assert "PO-42" in html and "secret" not in html
    assert "ACME-DRAFT" in html and "105.00 EUR" in html and "API calls" in html
    assert "side-menu" not in html  # a clean page


def test_printable_page_of_a_finalized_invoice_keeps_the_billing_details_it_was_issued_with(staff_client, organization):
    customer = CustomerFactory(organization=organization, legal_name="Old Name GmbH", city="Berlin")
    CustomerMetadataFactory(customer=customer, key="vat_ref", value="REF-1", display_in_invoice=True)
    invoice = billed_invoice(organization, customer=customer)
    update_customer(customer=customer, data={"legal_name": "New Name AG", "city": "Munich"})
    html = staff_client.get(f"/invoices/{invoice.pk}/print/").content.decode()
    assert "Old Name GmbH" in html and "Berlin" in html and "REF-1" in html
    assert "New Name AG" not in html and "Munich" not in html


def test_a_deleted_customers_invoice_stays_readable(staff_client, organization, finalized):
    delete_customer(customer=finalized.customer)
    html = staff_client.get(f"/invoices/{finalized.pk}/").content.decode()
    assert "deleted customer" in html and "ACME-000001" in html
    assert staff_client.get(f"/invoices/{finalized.pk}/print/").status_code == 200
    assert "ACME-000001" in staff_client.get("/invoices/").content.decode()


def test_the_customer_invoices_tab_separates_drafts(staff_client, organization):
    customer = CustomerFactory(organization=organization, invoice_grace_period=2)
    first = billed_invoice(organization, customer=customer)
    second = billed_invoice(organization, customer=customer)
    customer.invoice_grace_period = 0
    customer.save()
    third = billed_invoice(organization, customer=customer)
    fourth = void_invoice(invoice=billed_invoice(organization, customer=customer))
    other = billed_invoice(organization)
    response = staff_client.get(f"/customers/{customer.pk}/invoices/")
    assert response.status_code == 200
    assert [invoice.pk for invoice in response.context["drafts"]] == [second.pk, first.pk]
    assert [invoice.pk for invoice in response.context["finalized"]] == [fourth.pk, third.pk]
    html = response.content.decode()
    assert html.index("Draft invoices") < html.index("ACME-DRAFT") < html.index("Finalized invoices")
    assert html.index("Finalized invoices") < html.index(third.number) and "Voided" in html
    assert other.number not in html
    tab = staff_client.get(
        f"/customers/{customer.pk}/invoices/", headers={"HX-Request": "true", "HX-Target": "tab-panel"}
    ).content.decode()
    assert tab.strip().startswith('<div id="tab-panel">') and "Draft invoices" in tab
