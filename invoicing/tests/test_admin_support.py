"""The support admin for invoices, fees, billed periods, coupon credits, credit notes and their items and
applications, and the invoice numbering: read-only pages found by the ids support pastes, filtered by
status and organization, linked to each other and to the staff UI, in a number of queries that does
not grow with the rows; the writes are the lifecycle's, offered as actions whose refusals are messages."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coupons.models import AppliedCoupon
from coupons.services import apply_coupon, create_coupon
from customers.tests.factories import CustomerFactory
from invoicing.customer_deletion import delete_customer
from invoicing.models import (
    CouponCredit,
    CreditNote,
    CreditNoteApplication,
    CreditNoteItem,
    CustomerDeletion,
    Fee,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    InvoiceSubscription,
)
from invoicing.tests.factories import (
    ChargeFeeFactory,
    CreditNoteItemFactory,
    FeeFactory,
    InvoiceFactory,
    InvoiceSubscriptionFactory,
)
from invoicing.tests.scenarios import MAR_1, customer_with_everything
from organizations.models import User
from organizations.tests.factories import UserFactory
from plans.models import Subscription
from plans.tests.factories import SubscriptionFactory
from wallets.models import Wallet

MODELS = [Invoice, Fee, InvoiceSubscription, CouponCredit, CreditNote, CreditNoteItem, CreditNoteApplication]


@pytest.fixture
def support_client(db, client):
    client.force_login(User.objects.create_superuser("support@example.test", "support-pass"))
    return client


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def listed(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def billed(organization, tag: str) -> dict:
    """One of each invoicing row for a customer `acme_<tag>`: a finalized invoice billing a subscription
    (a base fee and a usage fee) with a coupon's credit and a credit note of 10.00 on its base fee,
    part of which a later draft used."""
    customer = CustomerFactory(organization=organization, external_id=f"acme_{tag}", currency="EUR")
    subscription = SubscriptionFactory(customer=customer, external_id=f"sub_{tag}")
    period = InvoiceSubscriptionFactory(subscription=subscription, invoice__status=InvoiceStatus.FINALIZED)
    invoice = period.invoice
    Invoice.objects.filter(pk=invoice.pk).update(fees_amount_cents=12345, total_amount_cents=12345)
    fee = FeeFactory(invoice=invoice, subscription=subscription, amount_cents=10000)
    ChargeFeeFactory(invoice=invoice, amount_cents=2345)
    item = CreditNoteItemFactory(credit_note__invoice=invoice, fee=fee)
    later = InvoiceFactory(organization=organization, customer=customer)
    application = CreditNoteApplication.objects.create(credit_note=item.credit_note, invoice=later, amount_cents=400)
    coupon = create_coupon(
        organization=organization,
        data={
            "name": "Welcome",
            "code": f"welcome_{tag}",
            "coupon_type": "fixed_amount",
            "amount_cents": 300,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
        },
    )
    coupon_credit = CouponCredit.objects.create(
        invoice=invoice, applied_coupon=apply_coupon(customer=customer, coupon=coupon), amount_cents=300
    )
    return {
        Invoice: Invoice.objects.get(pk=invoice.pk),
        Fee: fee,
        InvoiceSubscription: period,
        CouponCredit: coupon_credit,
        CreditNote: item.credit_note,
        CreditNoteItem: item,
        CreditNoteApplication: application,
        "later": later,
    }


@pytest.fixture
def rows(organization, other_organization) -> dict:
    billed(other_organization, "other")  # never found under the first organization's filter
    return billed(organization, "42")


# What support pastes into the search box, and the query parameter of each list's organization filter.
SEARCHES = {
    Invoice: lambda rows: rows[Invoice].number,
    Fee: lambda rows: str(rows[Fee].pk),
    InvoiceSubscription: lambda rows: rows[Invoice].number,
    CouponCredit: lambda rows: "welcome_42",
    CreditNote: lambda rows: rows[CreditNote].number,
    CreditNoteItem: lambda rows: rows[CreditNote].number,
    CreditNoteApplication: lambda rows: str(rows[CreditNoteApplication].pk),
}
ORGANIZATION_FILTERS = {
    Invoice: "organization__id__exact",
    Fee: "invoice__organization__id__exact",
    InvoiceSubscription: "invoice__organization__id__exact",
    CouponCredit: "invoice__organization__id__exact",
    CreditNote: "organization__id__exact",
    CreditNoteItem: "credit_note__organization__id__exact",
    CreditNoteApplication: "credit_note__organization__id__exact",
}


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_a_pasted_id_finds_the_row_under_its_organization_filter(support_client, rows, model, other_organization):
    term = SEARCHES[model](rows)
    organization_id = rows[Invoice].organization_id
    found = support_client.get(url(model, "changelist"), {"q": term, ORGANIZATION_FILTERS[model]: organization_id})
    assert listed(found) == [rows[model]]
    elsewhere = support_client.get(
        url(model, "changelist"), {"q": term, ORGANIZATION_FILTERS[model]: other_organization.pk}
    )
    assert listed(elsewhere) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_the_change_page_opens_read_only(support_client, rows, model):
    obj = rows[model]
    response = support_client.get(url(model, "change", obj.pk))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert support_client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert support_client.get(url(model, "add")).status_code == 403
    assert support_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


def test_invoices_are_found_by_customer_external_id_and_lago_id(support_client, rows):
    invoice, later = rows[Invoice], rows["later"]
    assert set(listed(support_client.get(url(Invoice, "changelist"), {"q": "acme_42"}))) == {invoice, later}
    assert listed(support_client.get(url(Invoice, "changelist"), {"q": str(invoice.pk)})) == [invoice]
    assert listed(support_client.get(url(Invoice, "changelist"), {"q": "nothing-like-it"})) == []


def test_invoices_filter_by_status_and_payment_status(support_client, rows):
    invoice, later = rows[Invoice], rows["later"]
    drafts = support_client.get(url(Invoice, "changelist"), {"q": "acme_42", "status__exact": "draft"})
    assert listed(drafts) == [later]
    finalized = support_client.get(url(Invoice, "changelist"), {"q": "acme_42", "status__exact": "finalized"})
    assert listed(finalized) == [invoice]
    Invoice.objects.filter(pk=invoice.pk).update(payment_status="succeeded")
    paid = support_client.get(url(Invoice, "changelist"), {"q": "acme_42", "payment_status__exact": "succeeded"})
    assert listed(paid) == [invoice]
    failed = support_client.get(url(Invoice, "changelist"), {"q": "acme_42", "payment_status__exact": "failed"})
    assert listed(failed) == []


def test_credit_notes_filter_by_credit_and_refund_status(support_client, rows):
    note = rows[CreditNote]
    available = support_client.get(url(CreditNote, "changelist"), {"credit_status__exact": "available"})
    assert note in listed(available)
    assert listed(support_client.get(url(CreditNote, "changelist"), {"refund_status__exact": "pending"})) == []


def test_money_is_shown_in_its_currency(support_client, rows):
    invoices = support_client.get(url(Invoice, "changelist"), {"q": rows[Invoice].number}).content.decode()
    assert "123.45 EUR" in invoices
    fees = support_client.get(url(Fee, "changelist"), {"q": str(rows[Fee].pk)}).content.decode()
    assert "100.00 EUR" in fees
    notes = support_client.get(url(CreditNote, "changelist"), {"q": rows[CreditNote].number}).content.decode()
    assert "10.00 EUR" in notes
    credits = support_client.get(url(CouponCredit, "changelist"), {"q": "welcome_42"}).content.decode()
    assert "3.00 EUR" in credits
    applications = support_client.get(url(CreditNoteApplication, "change", rows[CreditNoteApplication].pk))
    assert "4.00 EUR" in applications.content.decode()


def test_the_invoice_page_shows_its_fees_credits_and_notes_and_links_them(support_client, rows):
    invoice = rows[Invoice]
    page = support_client.get(url(Invoice, "change", invoice.pk)).content.decode()
    assert "123.45 EUR" in page  # total
    assert "100.00 EUR" in page and "23.45 EUR" in page  # its fees, inline
    assert "welcome_42" in page and "3.00 EUR" in page  # the coupon it took
    assert rows[CreditNote].number in page  # the credit note issued on it
    assert url(CreditNote, "change", rows[CreditNote].pk) in page
    assert url(Fee, "change", rows[Fee].pk) in page
    assert reverse("admin:customers_customer_change", args=[invoice.customer_id]) in page
    assert reverse("invoicing:detail", args=[invoice.pk]) in page  # the staff page
    assert f"{url(Fee, 'changelist')}?invoice={invoice.pk}" in page
    assert 'name="fees-0-amount_cents"' not in page  # the inline rows are read-only
    later = support_client.get(url(Invoice, "change", rows["later"].pk)).content.decode()
    assert rows[CreditNote].number in later and "4.00 EUR" in later  # the credit it used


def test_the_credit_note_page_links_its_invoice_items_and_staff_page(support_client, rows):
    note = rows[CreditNote]
    page = support_client.get(url(CreditNote, "change", note.pk)).content.decode()
    assert url(Invoice, "change", note.invoice_id) in page
    assert url(Fee, "change", rows[Fee].pk) in page  # its item, inline
    assert url(Invoice, "change", rows["later"].pk) in page  # the invoice that used its credit
    assert reverse("invoicing:credit_note_detail", args=[note.pk]) in page


def test_a_linked_list_of_one_invoices_fees(support_client, rows):
    response = support_client.get(url(Fee, "changelist"), {"invoice": rows[Invoice].pk})
    assert set(listed(response)) == set(rows[Invoice].fees.all()) and len(listed(response)) == 2


def test_the_numbering_is_shown_per_organization(support_client, rows, other_organization):
    sequence = InvoiceSequence.objects.get(organization=rows[Invoice].organization)
    response = support_client.get(
        url(InvoiceSequence, "changelist"), {"q": "Acme", "organization__id__exact": sequence.pk}
    )
    assert listed(response) == [sequence]
    assert support_client.get(url(InvoiceSequence, "change", sequence.pk)).status_code == 200
    assert listed(
        support_client.get(url(InvoiceSequence, "changelist"), {"organization__id__exact": other_organization.pk})
    ) == [InvoiceSequence.objects.get(organization=other_organization)]


def _changelist_queries(client, model) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(model, "changelist"))
    return len(queries.captured_queries), len(listed(response))


def test_changelists_cost_the_same_queries_for_2_and_20_rows(support_client, organization):
    models = [*MODELS, InvoiceSequence]
    for index in range(2):
        billed(organization, f"{index}")
    with_two = {model: _changelist_queries(support_client, model) for model in models}
    for index in range(2, 20):
        billed(organization, f"{index}")
    with_twenty = {model: _changelist_queries(support_client, model) for model in models}
    for model in models:
        (queries_two, shown_two), (queries_twenty, shown_twenty) = with_two[model], with_twenty[model]
        assert shown_twenty > shown_two or model is InvoiceSequence, model
        assert queries_twenty == queries_two, model


def test_the_invoice_page_costs_the_same_queries_for_2_and_20_fees(support_client, rows):
    invoice = rows[Invoice]
    page = url(Invoice, "change", invoice.pk)
    with CaptureQueriesContext(connection) as few:
        assert support_client.get(page).status_code == 200
    for _ in range(17):
        ChargeFeeFactory(invoice=invoice, amount_cents=111)
        CreditNoteItemFactory(credit_note__invoice=invoice, fee=rows[Fee], amount_cents=1)
    with CaptureQueriesContext(connection) as many:
        response = support_client.get(page)
    assert response.content.decode().count(": 1.11 EUR") == 17  # each fee row, headed by the fee
    assert len(many.captured_queries) == len(few.captured_queries)


# Actions: the lifecycle's writes -------------------------------------------------------------------


@pytest.fixture
def everything(organization):
    """Two drafts (February closed in a grace period, March in advance) and finalized invoices."""
    customer = customer_with_everything(organization)
    return {
        "drafts": list(Invoice.objects.filter(customer=customer, status="draft").order_by("created_at")),
        "finalized": Invoice.objects.filter(customer=customer, status="finalized", invoice_type="subscription").get(),
    }


def _act(client, model, action: str, objects) -> str:
    response = client.post(
        url(model, "changelist"), {"action": action, "_selected_action": [str(obj.pk) for obj in objects]}, follow=True
    )
    assert response.status_code == 200
    return " | ".join(str(message) for message in response.context["messages"])


def test_finalize_drafts_goes_through_the_lifecycle_and_reports_a_refusal(support_client, everything):
    drafts, finalized = everything["drafts"], everything["finalized"]
    with time_machine.travel(MAR_1 + timedelta(days=5), tick=False):
        text = _act(support_client, Invoice, "finalize_drafts", [*drafts, finalized])
    assert f"Invoice {finalized.number}: Only a draft invoice can be finalized or refreshed." in text
    assert "2 invoice(s) finalized." in text
    numbers = [Invoice.objects.get(pk=draft.pk).number for draft in drafts]
    assert all(numbers) and len(set(numbers)) == 2
    assert Invoice.objects.get(pk=finalized.pk).number == finalized.number  # left as it was


def test_refresh_drafts_refuses_a_finalized_invoice(support_client, everything):
    draft, finalized = everything["drafts"][0], everything["finalized"]
    with time_machine.travel(MAR_1 + timedelta(days=2), tick=False):
        text = _act(support_client, Invoice, "refresh_drafts", [draft, finalized])
    assert "1 invoice(s) refreshed." in text
    assert f"Invoice {finalized.number}: Only a draft invoice can be finalized or refreshed." in text
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


def test_void_invoices_voids_a_finalized_one_and_refuses_a_draft(support_client, everything):
    draft, finalized = everything["drafts"][0], everything["finalized"]
    text = _act(support_client, Invoice, "void_invoices", [finalized, draft])
    assert "1 invoice(s) voided." in text
    assert f"Invoice {draft}: Only a finalized invoice can be voided." in text
    assert Invoice.objects.get(pk=finalized.pk).status == "voided"
    assert Invoice.objects.get(pk=draft.pk).status == "draft"


def test_when_every_invoice_is_refused_nothing_is_reported_done(support_client, everything):
    text = _act(support_client, Invoice, "void_invoices", everything["drafts"])
    assert text.count("Only a finalized invoice can be voided.") == 2
    assert "invoice(s) voided" not in text


def test_void_credit_notes_voids_the_balance_and_refuses_twice(support_client, rows):
    note = rows[CreditNote]
    assert "1 credit note(s) voided." in _act(support_client, CreditNote, "void_credit_notes", [note])
    note.refresh_from_db()
    assert note.status == "voided" and note.balance_amount_cents == 0 and note.voided_amount_cents == 1000
    again = _act(support_client, CreditNote, "void_credit_notes", [note])
    assert f"Credit note {note.number}: Only a credit note with credit still available can be voided." in again


def test_actions_need_the_change_permission(client, rows):
    """Support staff who may only view invoices see the pages, not the lifecycle's actions."""
    viewer = UserFactory(organization=None, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    client.force_login(viewer)
    response = client.get(url(Invoice, "changelist"))
    assert response.status_code == 200
    offered = response.context["action_form"].fields["action"].choices if response.context["action_form"] else []
    assert not any(name == "void_invoices" for name, _ in offered)
    refused = client.post(
        url(Invoice, "changelist"), {"action": "void_invoices", "_selected_action": [str(rows[Invoice].pk)]}
    )
    assert refused.status_code in (200, 302)
    assert Invoice.objects.get(pk=rows[Invoice].pk).status == "finalized"


def test_a_deleted_customers_cascade_links_its_billing_records(support_client, rows):
    customer = rows[Invoice].customer
    delete_customer(customer=customer)
    page = support_client.get(url(CustomerDeletion, "change", customer.deletion.pk)).content.decode()
    for model in (Subscription, Invoice, CreditNote, AppliedCoupon, Wallet):
        assert f"{url(model, 'changelist')}?customer={customer.pk}" in page, model
    assert reverse("customers:detail", args=[customer.pk]) in page
    invoices = support_client.get(url(Invoice, "changelist"), {"customer": customer.pk})
    assert set(listed(invoices)) == {rows[Invoice], rows["later"]}
