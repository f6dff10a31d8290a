"""Lago's Python client (1.55.0) lists, reads, finalizes, refreshes, voids and updates invoices."""

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.invoice import Invoice, InvoicePaymentStatusChange

from customers.tests.factories import CustomerFactory
from invoicing.customer_deletion import delete_customer
from invoicing.tests.test_invoices_api import billed_invoice, frozen_clock  # noqa: F401 (autouse fixture)
from organizations.services import create_api_key
from organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def org():
    return OrganizationFactory(name="Invoice Co")


@pytest.fixture
def lago(live_server, org):
    _, raw_key = create_api_key(organization=org)
    return Client(api_key=raw_key, api_url=live_server.url)


@pytest.fixture
def draft(org):
    customer = CustomerFactory(organization=org, external_id="cust_1", invoice_grace_period=3)
    return billed_invoice(org, customer=customer, external_id="sub_1")


@pytest.fixture
def finalized(org):
    customer = CustomerFactory(organization=org, external_id="cust_2")
    return billed_invoice(org, customer=customer, external_id="sub_2")


def test_find_all_by_customer_and_find(lago, draft, finalized):
    found = lago.invoices.find_all({"external_customer_id": "cust_1"})
    assert [invoice.lago_id for invoice in found["invoices"]] == [str(draft.pk)]
    assert found["meta"]["total_count"] == 1
    listed = found["invoices"][0]
    assert listed.number == "INVO-DRAFT" and listed.status == "draft" and listed.customer.external_id == "cust_1"

    invoice = lago.invoices.find(str(finalized.pk))
    assert invoice.number == "INVO-000001" and invoice.status == "finalized" and invoice.payment_status == "pending"
    assert invoice.total_amount_cents == 10500 and invoice.total_due_amount_cents == 10500
    assert invoice.payment_overdue is False and invoice.version_number == 4
    [period] = invoice.billing_periods.__root__
    assert period.external_subscription_id == "sub_2" and period.invoicing_reason == "subscription_periodic"
    assert period.charges_from_datetime == "2026-01-01T00:00:00Z"
    fees = {fee.item.type: fee for fee in invoice.fees.__root__}
    assert fees["charge"].units == "5.0" and fees["charge"].events_count == 2 and fees["charge"].amount_cents == 500
    assert fees["subscription"].amount_cents == 10000
    assert [s.lago_id for s in invoice.subscriptions.__root__] == [period.lago_subscription_id]

    everything = lago.invoices.find_all({"status": "finalized"})
    assert [i.lago_id for i in everything["invoices"]] == [str(finalized.pk)]


def test_finalize_refresh_and_void(lago, draft):
    refreshed = lago.invoices.refresh(str(draft.pk))
    assert refreshed.status == "draft" and refreshed.fees_amount_cents == 10500
    finalized = lago.invoices.finalize(str(draft.pk))
    assert finalized.status == "finalized" and finalized.number == "INVO-000001"
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.finalize(str(draft.pk))
    assert refused.value.status_code == 405 and refused.value.response["code"] == "invalid_type_or_status"
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.refresh(str(draft.pk))
    assert refused.value.status_code == 405

    voided = lago.invoices.void(str(draft.pk))
    assert voided.status == "voided" and voided.voided_at is not None and voided.total_due_amount_cents == 0
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.void(str(draft.pk))
    assert refused.value.status_code == 405 and refused.value.response["code"] == "not_voidable"
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.update(Invoice(payment_status="succeeded"), str(draft.pk))
    assert refused.value.status_code == 405 and refused.value.response["code"] == "update_on_voided_invoice"


def test_void_invoice_with_default_options(lago, finalized):
    voided = lago.invoices.void_invoice(str(finalized.pk), {"generate_credit_note": False})
    assert voided.status == "voided"


def test_update_payment_status(lago, finalized):
    paid = lago.invoices.update(Invoice(payment_status="succeeded"), str(finalized.pk))
    assert paid.payment_status == "succeeded" and paid.total_due_amount_cents == 0
    # The deprecated model sends the same body.
    failed = lago.invoices.update(InvoicePaymentStatusChange(payment_status="failed"), str(finalized.pk))
    assert failed.payment_status == "failed"
    with pytest.raises(LagoApiError) as refused:
        lago.invoices.update(Invoice(payment_status="paid"), str(finalized.pk))
    assert refused.value.status_code == 422
    assert refused.value.response["error_details"] == {"payment_status": ["value_is_invalid"]}


def test_errors(lago, org, finalized):
    with pytest.raises(LagoApiError) as missing:
        lago.invoices.find("00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404 and missing.value.response["code"] == "invoice_not_found"
    with pytest.raises(LagoApiError) as malformed:
        lago.invoices.find("not-a-uuid")
    assert malformed.value.status_code == 404 and malformed.value.response["code"] == "invoice_not_found"

    other = OrganizationFactory(name="Someone Else")
    _, other_key = create_api_key(organization=other)
    stranger = Client(api_key=other_key, api_url=lago.base_api_url.removesuffix("api/v1/"))
    with pytest.raises(LagoApiError) as foreign:
        stranger.invoices.find(str(finalized.pk))
    assert foreign.value.status_code == 404

    with pytest.raises(LagoApiError) as unauthorized:
        Client(api_key="wrong", api_url=lago.base_api_url.removesuffix("api/v1/")).invoices.find_all()
    assert unauthorized.value.status_code == 401


def test_a_deleted_customers_invoice_is_still_found(lago, finalized):
    delete_customer(customer=finalized.customer)
    assert lago.invoices.find(str(finalized.pk)).customer.external_id == "cust_2"
    # No new customer has taken the id: the filter still finds it (issue 12).
    found = lago.invoices.find_all({"external_customer_id": "cust_2"})["invoices"]
    assert [invoice.lago_id for invoice in found] == [str(finalized.pk)]
