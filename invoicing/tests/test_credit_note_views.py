"""Staff pages for credit notes: the form on a finalized invoice, the credit note page with its void
and refund status, the invoice page's list, and the customer's Credit notes tab."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.tests.factories import CustomerFactory
from invoicing.credit_notes import create_credit_note
from invoicing.lifecycle import update_invoice
from invoicing.models import CreditNote, Fee
from invoicing.tests.test_invoices_api import billed_invoice, frozen_clock  # noqa: F401 (autouse fixture)
from organizations.tests.factories import UserFactory


@pytest.fixture
def invoice(organization):
    """Finalized at once (grace period 0): a 100.00 EUR subscription fee and a 5.00 EUR charge fee."""
    organization.invoice_grace_period_days = 0
    organization.save()
    customer = CustomerFactory(organization=organization, external_id="cust_cn", name="Credit Co", currency="EUR")
    invoice = billed_invoice(organization, customer=customer)
    assert invoice.status == "finalized"
    return invoice


@pytest.fixture
def paid(invoice):
    return update_invoice(invoice=invoice, payment_status="succeeded")


def fees_of(invoice) -> tuple[Fee, Fee]:
    subscription_fee = invoice.fees.get(fee_type="subscription")
    charge_fee = invoice.fees.get(fee_type="charge")
    assert (subscription_fee.amount_cents, charge_fee.amount_cents) == (10000, 500)
    return subscription_fee, charge_fee


def form_data(invoice, amounts: dict, **extra) -> dict:
    data = {"reason": "duplicated_charge", "description": "", "credit_amount": "", "refund_amount": ""}
    data.update({f"fee_{fee.pk}": value for fee, value in amounts.items()})
    data.update(extra)
    return data


def issue(invoice, cents: int, refund: int = 0) -> CreditNote:
    subscription_fee, _ = fees_of(invoice)
    return create_credit_note(
        invoice=invoice,
        reason="other",
        items=[{"fee_id": str(subscription_fee.pk), "amount_cents": cents}],
        credit_amount_cents=cents - refund,
        refund_amount_cents=refund,
    )


def new_url(invoice) -> str:
    return f"/invoices/{invoice.pk}/credit-notes/new/"


def test_every_page_requires_login(client, invoice):
    note = issue(invoice, 1000)
    for url in [
        new_url(invoice),
        f"/invoices/credit-notes/{note.pk}/",
        f"/customers/{invoice.customer.pk}/credit_notes/",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    for url in [
        new_url(invoice),
        f"/invoices/credit-notes/{note.pk}/void/",
        f"/invoices/credit-notes/{note.pk}/refund-status/",
    ]:
        response = client.post(url, {"reason": "other", "refund_status": "succeeded"})
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert CreditNote.objects.get().status == "finalized"


def test_another_organizations_invoice_and_credit_note_are_not_found(client, other_organization, invoice):
    note = issue(invoice, 1000)
    client.force_login(UserFactory(organization=other_organization, email="other@other.test"))
    subscription_fee, _ = fees_of(invoice)
    assert client.get(new_url(invoice)).status_code == 404
    assert client.post(new_url(invoice), form_data(invoice, {subscription_fee: "5"})).status_code == 404
    assert client.get(f"/invoices/credit-notes/{note.pk}/").status_code == 404
    assert client.post(f"/invoices/credit-notes/{note.pk}/void/").status_code == 404
    assert (
        client.post(f"/invoices/credit-notes/{note.pk}/refund-status/", {"refund_status": "failed"}).status_code == 404
    )
    assert client.get(f"/customers/{invoice.customer.pk}/credit_notes/").status_code == 404
    note.refresh_from_db()
    assert CreditNote.objects.count() == 1 and note.status == "finalized" and note.balance_amount_cents == 1000


def test_the_invoice_page_offers_to_issue_a_credit_note_only_when_finalized(staff_client, organization, invoice):
    html = staff_client.get(f"/invoices/{invoice.pk}/").content.decode()
    assert f'href="{new_url(invoice)}"' in html and "Issue a credit note" in html
    assert "No credit note yet" in html
    draft = billed_invoice(organization, customer=CustomerFactory(organization=organization, invoice_grace_period=3))
    assert draft.status == "draft"
    assert "Issue a credit note" not in staff_client.get(f"/invoices/{draft.pk}/").content.decode()
    response = staff_client.get(new_url(draft), follow=True)
    assert response.redirect_chain[-1][0] == f"/invoices/{draft.pk}/"
    assert "A credit note can only be issued on a finalized invoice." in response.content.decode()


def test_the_form_lists_fees_with_what_is_left_and_the_reasons(staff_client, invoice):
    issue(invoice, 1250)  # an earlier note took 12.50 from the subscription fee
    response = staff_client.get(new_url(invoice))
    assert response.status_code == 200
    html = response.content.decode()
    for label in [
        "Duplicated charge",
        "Product unsatisfactory",
        "Order change",
        "Order cancellation",
        "Fraudulent charge",
    ]:
        assert f">{label}</option>" in html
    subscription_fee, charge_fee = fees_of(invoice)
    assert f'name="fee_{subscription_fee.pk}"' in html and f'name="fee_{charge_fee.pk}"' in html
    assert "87.50 EUR" in html and "5.00 EUR" in html  # left on each fee
    assert "92.50 EUR" in html  # left on the invoice
    # Unpaid: the refund field says why it cannot be used.
    assert "Refunds are only possible on a paid invoice; this invoice&#x27;s payment is pending." in html


def test_issue_a_credit_through_the_form(staff_client, invoice):
    subscription_fee, charge_fee = fees_of(invoice)
    data = form_data(invoice, {subscription_fee: "12.50", charge_fee: " 2 "}, description="Billed twice")
    response = staff_client.post(new_url(invoice), data)
    assert response.status_code == 302 and response["Location"] == f"/invoices/{invoice.pk}/"
    note = CreditNote.objects.get()
    assert (note.credit_amount_cents, note.refund_amount_cents, note.total_amount_cents) == (1450, 0, 1450)
    assert note.reason == "duplicated_charge" and note.description == "Billed twice"
    assert note.credit_status == "available" and note.refund_status is None
    assert sorted(note.items.values_list("fee_id", "amount_cents")) == sorted(
        [(subscription_fee.pk, 1250), (charge_fee.pk, 200)]
    )
    html = staff_client.get(response["Location"]).content.decode()
    assert f"Credit note {note.number} issued." in html
    assert note.number in html and "Duplicated charge" in html and "14.50 EUR" in html
    assert f'action="/invoices/credit-notes/{note.pk}/void/"' in html


def test_split_between_credit_and_refund_on_a_paid_invoice(staff_client, paid):
    subscription_fee, charge_fee = fees_of(paid)
    html = staff_client.get(new_url(paid)).content.decode()
    assert "Refunds are only possible on a paid invoice" not in html
    # An empty credit takes what is not refunded.
    staff_client.post(new_url(paid), form_data(paid, {subscription_fee: "20"}, refund_amount="4.50"))
    # Both given explicitly.
    staff_client.post(new_url(paid), form_data(paid, {charge_fee: "5.00"}, credit_amount="1", refund_amount="4"))
    first, second = CreditNote.objects.order_by("sequential_id")
    assert (first.credit_amount_cents, first.refund_amount_cents) == (1550, 450)
    assert (second.credit_amount_cents, second.refund_amount_cents) == (100, 400)
    assert first.refund_status == "pending" and first.credit_status == "available"


@pytest.mark.parametrize(
    ("amounts", "extra", "field", "message"),
    [
        ({"sub": "10"}, {"refund_amount": "10"}, "refund_amount", "Refunds are only possible on a paid invoice."),
        ({"charge": "5.01"}, {}, "charge", "More than what is left to give back on this fee. At most 5.00 EUR."),
        ({"sub": "abc"}, {}, "sub", "Enter an amount such as 12.50."),
        ({"sub": "1.234"}, {}, "sub", "Use at most 2 decimals for EUR."),
        ({"sub": "-1"}, {}, "sub", "Enter an amount of zero or more."),
        ({"sub": "10"}, {"reason": ""}, "reason", "This field is required."),
        ({"sub": "10"}, {"credit_amount": "9"}, "credit_amount", "Credit and refund must add up to the total"),
        ({}, {}, "items", "Enter an amount to give back on at least one fee."),
        ({"sub": "10"}, {"refund_amount": "20"}, "refund_amount", "More than the fees given back (10.00 EUR)."),
    ],
)
def test_refusals_are_shown_next_to_their_field_and_nothing_is_saved(
    staff_client, invoice, amounts, extra, field, message
):
    subscription_fee, charge_fee = fees_of(invoice)
    fees = {"sub": subscription_fee, "charge": charge_fee}
    response = staff_client.post(
        new_url(invoice), form_data(invoice, {fees[key]: value for key, value in amounts.items()}, **extra)
    )
    assert response.status_code == 200
    assert CreditNote.objects.count() == 0
    html = response.content.decode()
    assert "Nothing was issued" in html
    error_id = {"sub": f"id_fee_{subscription_fee.pk}", "charge": f"id_fee_{charge_fee.pk}"}.get(field, f"id_{field}")
    start = html.index(f'id="{error_id}_error"')
    assert message in html[start : start + 300]
    # What was typed is shown back.
    for value in amounts.values():
        assert f'value="{value}"' in html


def test_a_fee_given_back_in_full_has_nothing_left(staff_client, invoice):
    issue(invoice, 10000)  # the whole subscription fee is already given back
    subscription_fee, _ = fees_of(invoice)
    html = staff_client.get(new_url(invoice)).content.decode()
    assert "Nothing left" in html and "5.00 EUR" in html
    response = staff_client.post(new_url(invoice), form_data(invoice, {subscription_fee: "1"}))
    html = response.content.decode()
    start = html.index(f'id="id_fee_{subscription_fee.pk}_error"')
    assert "More than what is left to give back on this fee. At most 0.00 EUR." in html[start : start + 200]
    assert CreditNote.objects.count() == 1


def test_the_estimate_answers_htmx_with_the_estimate_only_and_saves_nothing(staff_client, paid):
    subscription_fee, charge_fee = fees_of(paid)
    data = form_data(paid, {subscription_fee: "30", charge_fee: "1.5"}, action="estimate")
    response = staff_client.post(new_url(paid), data, headers={"HX-Request": "true", "HX-Target": "estimate"})
    html = response.content.decode()
    assert html.strip().startswith('<div id="estimate"')
    assert "31.50 EUR" in html  # fees given back, at most as credit and as refund
    assert "At most as refund" in html
    # Without HTMX, the page comes back with the amounts kept and no error for the other fields.
    page = staff_client.post(new_url(paid), {**data, "reason": ""}).content.decode()
    assert 'value="30"' in page and "31.50 EUR" in page and "This field is required." not in page
    assert CreditNote.objects.count() == 0


def test_void_from_the_invoice_page(staff_client, invoice):
    note = issue(invoice, 1000)
    invoice_url = f"/invoices/{invoice.pk}/"
    response = staff_client.post(f"/invoices/credit-notes/{note.pk}/void/", {"next": invoice_url}, follow=True)
    assert response.redirect_chain[-1][0] == invoice_url
    html = response.content.decode()
    assert f"Credit note {note.number} voided" in html
    assert f'action="/invoices/credit-notes/{note.pk}/void/"' not in html
    note.refresh_from_db()
    assert note.status == "voided" and note.credit_status == "voided" and note.balance_amount_cents == 0
    again = staff_client.post(f"/invoices/credit-notes/{note.pk}/void/", {"next": "https://evil.test/"}, follow=True)
    assert again.redirect_chain[-1][0] == f"/invoices/credit-notes/{note.pk}/"  # never off-site
    assert "Only a credit note with credit still available can be voided." in again.content.decode()
    assert staff_client.get(f"/invoices/credit-notes/{note.pk}/void/").status_code == 405


def test_the_credit_note_page_shows_items_amounts_and_updates_the_refund(staff_client, paid):
    note = issue(paid, 3000, refund=1000)
    url = f"/invoices/credit-notes/{note.pk}/"
    html = staff_client.get(url).content.decode()
    assert note.number in html and paid.number in html and "Other" in html
    assert "30.00 EUR" in html and "20.00 EUR" in html and "10.00 EUR" in html
    assert "100.00 EUR" in html  # the fee billed, beside what is given back
    assert ">Void</button>" in html and 'name="refund_status"' in html
    response = staff_client.post(f"{url}refund-status/", {"refund_status": "succeeded"}, follow=True)
    assert "Refund marked succeeded." in response.content.decode()
    note.refresh_from_db()
    assert note.refund_status == "succeeded" and note.refunded_at is not None
    bad = staff_client.post(f"{url}refund-status/", {"refund_status": "lost"}, follow=True)
    assert "Choose a refund status" in bad.content.decode()
    note.refresh_from_db()
    assert note.refund_status == "succeeded"


def test_a_credit_only_note_has_no_refund_form(staff_client, invoice):
    note = issue(invoice, 500)
    html = staff_client.get(f"/invoices/credit-notes/{note.pk}/").content.decode()
    assert 'name="refund_status"' not in html
    response = staff_client.post(
        f"/invoices/credit-notes/{note.pk}/refund-status/", {"refund_status": "succeeded"}, follow=True
    )
    assert "This credit note has no refund." in response.content.decode()


def test_the_customer_tab_shows_the_balance_and_the_notes(staff_client, invoice):
    customer = invoice.customer
    url = f"/customers/{customer.pk}/credit_notes/"
    empty = staff_client.get(url).content.decode()
    assert ">Credit notes</a>" in empty and "No credit note for this customer" in empty
    assert empty.index(">Invoices</a>") < empty.index(">Credit notes</a>")
    kept = issue(invoice, 1250)
    spent = issue(invoice, 300)
    staff_client.post(f"/invoices/credit-notes/{spent.pk}/void/")
    response = staff_client.get(url, headers={"HX-Request": "true", "HX-Target": "tab-panel"})
    html = response.content.decode()
    assert html.strip().startswith('<div id="tab-panel">')
    assert response.context["credit_balances"] == [("EUR", 1250)]
    assert "Credit balance available" in html and "12.50 EUR" in html
    assert kept.number in html and spent.number in html and invoice.number in html
    assert html.index(spent.number) < html.index(kept.number)  # newest first
    assert f'value="/customers/{customer.pk}/credit_notes/"' in html  # Void comes back to the tab


def test_the_customer_tab_runs_a_fixed_number_of_queries(staff_client, invoice):
    url = f"/customers/{invoice.customer.pk}/credit_notes/"
    issue(invoice, 100)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(url)
    for _ in range(5):
        issue(invoice, 100)
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get(url)
    assert len(response.context["credit_notes"]) == 6
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_invoice_page_runs_a_fixed_number_of_queries_with_credit_notes(staff_client, invoice):
    url = f"/invoices/{invoice.pk}/"
    issue(invoice, 100)
    with CaptureQueriesContext(connection) as few:
        staff_client.get(url)
    for _ in range(4):
        issue(invoice, 100)
    with CaptureQueriesContext(connection) as many:
        staff_client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
