"""Deleting a customer from the staff UI (issue 12): Actions → Delete customer previews what
`deletion_preview` says, the red button deletes through `delete_customer`, and the deleted customer
keeps a read-only page that follows its cascade (polling until it has finished). The cascade runs in
a Celery task; no worker runs here, so the tests call `run_customer_deletion` themselves."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.jobs import task_named
from billing.templatetags.money import money
from coupons.services import apply_coupon
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from invoicing import customer_deletion
from invoicing.customer_deletion import delete_customer, deletion_preview, run_customer_deletion
from invoicing.models import CreditNote, CustomerDeletion, Invoice
from invoicing.tests.factories import CreditNoteFactory, InvoiceFactory
from invoicing.tests.scenarios import coupon, customer_with_everything

FEB_1 = datetime(2026, 2, 1, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, tzinfo=UTC)
MAR_15 = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)  # when staff look at the preview and delete
POLL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "deletion-progress"}


@pytest.fixture
def customer(organization):
    """A customer with a subscription in arrears with usage, one paid in advance, a pending one, two
    coupons, a wallet, two drafts and a finalized invoice with a credit note."""
    return customer_with_everything(organization, external_id="cust_wayne", name="Wayne Enterprises", paid_credits=0)


@pytest.fixture
def no_task_sent(monkeypatch):
    """The cascade's task, recorded instead of sent (no worker runs in these tests)."""
    sent = []
    monkeypatch.setattr(task_named(customer_deletion.TASK), "delay", lambda *args: sent.append(args))
    return sent


def delete_url(customer) -> str:
    return reverse("customers:delete", args=[customer.pk])


def page_url(customer) -> str:
    return reverse("customers:detail", args=[customer.pk])


def progress(html: str) -> str:
    """The words of the cascade's progress panel."""
    return text(re.search(r'id="deletion-progress".*?</ol>.*?</dl>', html, re.S).group(0))


def text(html: str) -> str:
    """The page's words, tags removed and spaces collapsed, to look for sentences."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# Actions → Delete customer ---------------------------------------------------------------------


def test_the_actions_menu_offers_delete_customer(staff_client, organization):
    customer = CustomerFactory(organization=organization)
    html = staff_client.get(page_url(customer)).content.decode()
    assert re.search(rf'<a role="menuitem" class="danger" href="{delete_url(customer)}">Delete customer</a>', html)


def test_the_preview_lists_what_the_domain_preview_says_and_changes_nothing(staff_client, customer):
    with time_machine.travel(MAR_15, tick=False):
        preview = deletion_preview(customer=customer)
        response = staff_client.get(delete_url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    words = text(html)
    assert "Delete Wayne Enterprises?" in words
    outcomes = {outcome.subscription.external_id: outcome for outcome in preview.subscriptions}
    in_arrears, in_advance = outcomes["sub_arrears"], outcomes["sub_advance"]
    assert (in_arrears.action, in_advance.action, outcomes["sub_pending"].action) == (
        "terminate",
        "terminate",
        "cancel",
    )
    assert in_arrears.invoice_amount_cents > 0 and in_advance.credit_note_amount_cents > 0
    # Each terminated subscription with its estimated termination invoice, and the credit note of
    # the one paid in advance; the pending one canceled.
    terminated = re.search(r'id="preview-subscriptions">(.*?)</li>\s*<li id="preview-drafts"', html, re.S).group(1)
    assert "2 active subscriptions terminated" in text(terminated)
    for outcome in (in_arrears, in_advance):
        row = re.search(
            rf"<tr>\s*<td>[^<]*<span[^>]*>{outcome.subscription.external_id}</span>.*?</tr>", terminated, re.S
        )
        assert money(outcome.invoice_amount_cents, "EUR") in row.group(0)
    assert money(in_advance.credit_note_amount_cents, "EUR") in terminated
    assert "1 pending subscription canceled" in text(terminated) and "sub_pending" in terminated
    # The drafts with their current totals, the coupons, the wallet's credits voided at most.
    drafts = re.search(r'id="preview-drafts">(.*?)</li>', html, re.S).group(1)
    assert "2 draft invoices finalized" in text(drafts)
    for draft in preview.drafts:
        assert f"/invoices/{draft.pk}/" in drafts and money(draft.total_amount_cents, "EUR") in drafts
    coupons = re.search(r'id="preview-coupons">(.*?)</li>', html, re.S).group(1)
    assert "2 applied coupons terminated" in text(coupons)
    for applied in preview.applied_coupons:
        assert applied.coupon.name in coupons
    wallet = text(re.search(r'id="preview-wallet">(.*?)</li>', html, re.S).group(1))
    assert preview.credits_voided_at_most == Decimal(50)
    assert "The final invoices take what they can of it first" in wallet
    assert "at most 50 credits (50.00 EUR)" in wallet
    # What is kept, that amounts are estimates, and the red button.
    assert "1 finalized or voided invoice and 1 credit note stay under Invoices" in words
    assert "Amounts are estimates" in words
    assert re.search(
        r'<form method="post" class="actions">.*<button type="submit" class="button danger">Delete customer</button>',
        html,
        re.S,
    )
    # A GET never deletes.
    assert Customer.live.filter(pk=customer.pk).exists() and not CustomerDeletion.objects.exists()


def test_the_preview_of_a_customer_with_nothing_says_so(staff_client, organization):
    customer = CustomerFactory(organization=organization)
    words = text(staff_client.get(delete_url(customer)).content.decode())
    for sentence in (
        "No active or pending subscription.",
        "No draft invoice.",
        "No applied coupon.",
        "No active wallet.",
    ):
        assert sentence in words


def test_the_preview_costs_the_same_queries_whatever_the_number_of_drafts_and_coupons(
    staff_client, organization, django_assert_num_queries
):
    def customer_with(count: int):
        customer = CustomerFactory(organization=organization)
        for index in range(count):
            InvoiceFactory(organization=organization, customer=customer)
            InvoiceFactory(organization=organization, customer=customer, status="finalized")
            applied = coupon(
                organization, f"c{count}_{index}", coupon_type="percentage", percentage_rate=5, frequency="forever"
            )
            apply_coupon(customer=customer, coupon=applied)
        return customer

    small, large = customer_with(1), customer_with(4)
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get(delete_url(small)).status_code == 200
    with django_assert_num_queries(len(queries.captured_queries)):
        assert staff_client.get(delete_url(large)).status_code == 200


def test_the_delete_button_deletes_and_records_the_cascade_its_task_sent_on_commit(
    staff_client, customer, no_task_sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(delete_url(customer))
    assert response.status_code == 302 and response["Location"] == reverse("customers:list")
    customer.refresh_from_db()
    assert customer.deleted_at is not None
    deletion = CustomerDeletion.objects.get(customer=customer)
    assert (deletion.finished_at, deletion.attempts) == (None, 0)
    assert no_task_sent == [(str(deletion.pk),)]
    listing = staff_client.get(reverse("customers:list")).content.decode()
    assert "Customer Wayne Enterprises deleted." in listing
    assert "cust_wayne" not in listing and 'title="Customers">0<' in listing


def test_a_second_click_says_the_customer_was_already_deleted(staff_client, organization):
    customer = CustomerFactory(organization=organization)
    staff_client.post(delete_url(customer))
    response = staff_client.post(delete_url(customer), follow=True)
    assert response.redirect_chain == [(reverse("customers:list"), 302)]
    assert "This customer was already deleted." in response.content.decode()
    assert CustomerDeletion.objects.filter(customer=customer).count() == 1
    # The confirmation page itself is gone: the customer can no longer be deleted.
    assert staff_client.get(delete_url(customer)).status_code == 404


def test_another_organizations_customer_is_a_404(staff_client, other_organization):
    theirs = CustomerFactory(organization=other_organization)
    assert staff_client.get(delete_url(theirs)).status_code == 404
    assert staff_client.post(delete_url(theirs)).status_code == 404
    assert Customer.live.filter(pk=theirs.pk).exists()
    delete_customer(customer=theirs)
    assert staff_client.get(page_url(theirs)).status_code == 404  # nor is their deleted customer's page shown
    assert staff_client.post(delete_url(theirs)).status_code == 404


def test_an_unknown_customer_is_a_404(staff_client):
    unknown = "00000000-0000-0000-0000-000000000000"
    assert staff_client.get(f"/customers/{unknown}/").status_code == 404
    assert staff_client.get(f"/customers/{unknown}/delete/").status_code == 404


def test_deleting_requires_login(client, organization):
    customer = CustomerFactory(organization=organization)
    for response in (client.get(delete_url(customer)), client.post(delete_url(customer))):
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Customer.live.filter(pk=customer.pk).exists()


# The deleted customer's page ---------------------------------------------------------------------


def test_the_deleted_customers_page_follows_the_cascade_and_stops_polling_once_finished(staff_client, customer):
    with time_machine.travel(MAR_15, tick=False):
        delete_customer(customer=customer)
    html = staff_client.get(page_url(customer)).content.decode()
    words = text(html)
    assert "Deleted on Mar 15, 2026 at 12:00 (UTC)" in words
    assert "Deletion in progress" in words and progress(html).count("Pending") == 4
    assert 'hx-trigger="every 2s"' in html and f'hx-get="{page_url(customer)}"' in html
    assert "Actions" not in words and "/delete/" not in html and "/edit/" not in html  # read-only
    # Its invoices and credit notes, as they are now.
    earlier = Invoice.objects.get(customer=customer, status="finalized")
    assert f"/invoices/{earlier.pk}/" in html
    assert CreditNote.objects.get(customer=customer).number in html

    # A poll while the cascade runs: the progress alone, still polling.
    poll = staff_client.get(page_url(customer), **POLL)
    assert poll.content.decode().lstrip().startswith('<div class="card deletion-progress" id="deletion-progress"')
    assert 'hx-trigger="every 2s"' in poll.content.decode() and "HX-Refresh" not in poll

    with time_machine.travel(MAR_15 + timedelta(seconds=5), tick=False):
        run_customer_deletion(deletion_id=customer.deletion.pk)
    # The next poll shows every step done, no longer polls, and reloads the page once for the new invoices.
    poll = staff_client.get(page_url(customer), **POLL)
    fragment = text(poll.content.decode())
    assert "Deletion finished" in fragment and fragment.count("Done Mar 15, 2026") == 4
    assert "hx-trigger" not in poll.content.decode() and poll["HX-Refresh"] == "true"
    html = staff_client.get(page_url(customer)).content.decode()
    assert "hx-trigger" not in html and "Attempts 1" in text(html)
    for invoice in Invoice.objects.filter(customer=customer):
        assert invoice.status == "finalized" and f"/invoices/{invoice.pk}/" in html
    for note in CreditNote.objects.filter(customer=customer):
        assert note.number in html
    assert CreditNote.objects.filter(customer=customer, reason="order_cancellation").exists()


def test_a_failed_attempt_shows_its_error_and_attempts(staff_client, organization, monkeypatch):
    customer = CustomerFactory(organization=organization)
    delete_customer(customer=customer)

    def broken(customer, at):
        raise RuntimeError("database went away")

    monkeypatch.setattr(customer_deletion, "_end_coupons", broken)
    with pytest.raises(RuntimeError):
        run_customer_deletion(deletion_id=customer.deletion.pk)
    words = text(staff_client.get(page_url(customer), **POLL).content.decode())
    assert "The last attempt failed: RuntimeError: database went away" in words
    assert "Attempts 1" in words and words.count("Done") == 2 and words.count("Pending") == 2


def test_the_deleted_customers_tabs_and_invoice_pages_lead_to_its_page(staff_client, organization):
    customer = CustomerFactory(organization=organization, name="Gone Inc")
    invoice = InvoiceFactory(organization=organization, customer=customer, status="finalized")
    delete_customer(customer=customer)
    invoice_page = staff_client.get(reverse("invoicing:detail", args=[invoice.pk])).content.decode()
    assert f'<a href="{page_url(customer)}">Gone Inc</a> <span class="badge">deleted customer</span>' in invoice_page
    for tab in ("invoices", "usage", "wallet"):
        assert "Deleted on" in staff_client.get(reverse("customers:tab", args=[customer.pk, tab])).content.decode()
    # A tab of the live page, still open somewhere, loads the deleted customer's whole page instead.
    tab = staff_client.get(
        reverse("customers:tab", args=[customer.pk, "usage"]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="tab-panel"
    )
    assert tab["HX-Redirect"] == page_url(customer)


def test_a_customer_deleted_without_a_cascade_record_still_has_its_page(staff_client, organization):
    customer = CustomerFactory(organization=organization, deleted_at=MAR_15)
    words = text(staff_client.get(page_url(customer)).content.decode())
    assert "Deleted on" in words and "No cascade was recorded for this deletion." in words


def test_the_deleted_customers_page_and_its_poll_cost_fixed_queries(
    staff_client, organization, django_assert_num_queries
):
    def deleted_with(count: int):
        customer = CustomerFactory(organization=organization)
        for _ in range(count):
            invoice = InvoiceFactory(organization=organization, customer=customer, status="finalized")
            CreditNoteFactory(invoice=invoice, credit_amount_cents=100)
        delete_customer(customer=customer)
        return customer

    small, large = deleted_with(1), deleted_with(4)
    for headers in ({}, POLL):
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(page_url(small), **headers).status_code == 200
        with django_assert_num_queries(len(queries.captured_queries)):
            assert staff_client.get(page_url(large), **headers).status_code == 200
    with CaptureQueriesContext(connection) as poll:
        staff_client.get(page_url(large), **POLL)
    # Session, user, organization, the live customer looked for first, the deleted one with its cascade.
    assert len(poll.captured_queries) == 5
