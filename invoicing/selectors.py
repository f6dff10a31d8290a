"""Read queries for invoices, always scoped to one organization, with a fixed number of queries."""

import uuid
from datetime import timedelta

from django.db.models import Prefetch, Q, QuerySet

from billing.errors import NotFound
from customers.models import Customer, CustomerMetadata
from customers.selectors import customers_named_by
from invoicing.billing_windows import billing_windows
from invoicing.models import CouponCredit, CreditNote, Fee, Invoice, InvoiceStatus, InvoiceSubscription
from invoicing.numbering import draft_number
from invoicing.usage import with_usage_relations
from organizations.models import Organization
from plans.billing_periods import BillingPeriod
from plans.models import Subscription, SubscriptionStatus

ONE_SECOND = timedelta(seconds=1)
CUSTOMER_METADATA = Prefetch("customer__metadata", queryset=CustomerMetadata.objects.order_by("created_at", "key"))
FEES = Prefetch(
    "fees",
    queryset=Fee.objects.select_related("charge__billable_metric", "subscription__plan", "add_on").order_by(
        "created_at", "fee_type", "description", "id"
    ),
)
BILLED_SUBSCRIPTIONS = Prefetch(
    "invoice_subscriptions",
    queryset=InvoiceSubscription.objects.select_related(
        "subscription__plan", "subscription__customer__organization"
    ).order_by("id"),
)


def _invoices(organization: Organization) -> QuerySet[Invoice]:
    return Invoice.objects.filter(organization=organization).select_related("organization", "customer__organization")


def with_customer_metadata(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    return queryset.prefetch_related(CUSTOMER_METADATA)


def with_details(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Everything an invoice page or the API's single invoice shows: fees, billed periods, customer."""
    return queryset.prefetch_related(CUSTOMER_METADATA, FEES, BILLED_SUBSCRIPTIONS)


def list_invoices(
    *,
    organization: Organization,
    external_customer_id: str | None = None,
    statuses: list[str] | None = None,
    payment_statuses: list[str] | None = None,
    invoice_types: list[str] | None = None,
    search: str = "",
) -> QuerySet[Invoice]:
    """The organization's invoices, newest first. `external_customer_id` means the live customer
    holding that id, or while none does the deleted customers that held it (`customers_named_by`);
    a deleted customer's invoices are always found by their own ids."""
    queryset = _invoices(organization)
    if external_customer_id is not None:
        queryset = queryset.filter(
            customer__in=customers_named_by(organization=organization, external_id=external_customer_id)
        )
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if payment_statuses:
        queryset = queryset.filter(payment_status__in=payment_statuses)
    if invoice_types:
        queryset = queryset.filter(invoice_type__in=invoice_types)
    search = search.replace("\x00", "").strip()
    if search:
        matches = (
            Q(number__icontains=search)
            | Q(customer__name__icontains=search)
            | Q(customer__external_id__icontains=search)
            | Q(customer__legal_name__icontains=search)
        )
        if search.upper() in draft_number(organization).upper():
            matches |= Q(status=InvoiceStatus.DRAFT)  # drafts show a provisional number they don't store
        queryset = queryset.filter(matches)
    return queryset.order_by("-created_at", "id")


def get_invoice(*, organization: Organization, invoice_id) -> Invoice:
    """One invoice of the organization with its details; NotFound for a malformed or foreign id."""
    try:
        invoice_id = uuid.UUID(str(invoice_id))
    except ValueError:
        raise NotFound("invoice") from None
    invoice = with_details(_invoices(organization).filter(pk=invoice_id)).first()
    if invoice is None:
        raise NotFound("invoice")
    return invoice


def customer_invoices(*, customer) -> dict[str, list[Invoice]]:
    """A customer's invoices for its Invoices tab: drafts, and the others (finalized, voided or closed)."""
    invoices = list(
        Invoice.objects.filter(customer=customer).select_related("organization").order_by("-created_at", "id")
    )
    return {
        "drafts": [invoice for invoice in invoices if invoice.status == InvoiceStatus.DRAFT],
        "finalized": [invoice for invoice in invoices if invoice.status != InvoiceStatus.DRAFT],
    }


def invoice_number(invoice: Invoice) -> str:
    """The number an invoice shows: its own once finalized, the provisional one while a draft."""
    return invoice.number or draft_number(invoice.organization)


def covered_periods(link: InvoiceSubscription) -> dict:
    """What one billed subscription covers, as half-open UTC ranges: the base fee's window
    (`subscription_start`/`_end`) and the usage's (`charges_start`/`_end`), by the same rule that
    built the invoice's fees (`invoicing.billing_windows`)."""
    subscription = link.subscription
    windows = billing_windows(
        subscription,
        link.invoicing_reason,
        BillingPeriod(start=link.period_start, end=link.period_end),
        subscription.terminated_at,
    )
    return {
        "link": link,
        "subscription": subscription,
        "subscription_start": windows.subscription.start,
        "subscription_end": windows.subscription.end,
        "charges_start": windows.charges.start,
        "charges_end": windows.charges.end,
        # Lago's inclusive ends (the last second), for display.
        "subscription_to": windows.subscription.end - ONE_SECOND,
        "charges_to": windows.charges.end - ONE_SECOND,
    }


def customer_billing_details(customer: Customer) -> dict:
    """The customer's billing details as an invoice records them at finalization; `metadata` holds
    only the rows marked to be displayed on invoices."""
    fields = [
        "external_id",
        "name",
        "legal_name",
        "legal_number",
        "tax_identification_number",
        "email",
        "phone",
        "url",
        "address_line1",
        "address_line2",
        "zipcode",
        "city",
        "state",
        "country",
        "currency",
        "timezone",
    ]
    snapshot = {field: getattr(customer, field) for field in fields}
    snapshot["applicable_timezone"] = customer.applicable_timezone
    snapshot["shipping_address"] = customer.shipping_address
    snapshot["metadata"] = [
        {"key": item.key, "value": item.value} for item in customer.metadata.all() if item.display_in_invoice
    ]
    return snapshot


def billing_details(invoice: Invoice) -> dict:
    """The customer's billing details an invoice shows: as recorded at finalization once the
    invoice is finalized (a later edit or deletion changes nothing), the live customer's on a draft.
    `metadata` holds only the rows marked to be displayed on invoices."""
    if invoice.status != InvoiceStatus.DRAFT and invoice.customer_snapshot:
        return invoice.customer_snapshot
    return customer_billing_details(invoice.customer)


def active_subscriptions_with_usage(*, customer: Customer) -> QuerySet[Subscription]:
    """The customer's active subscriptions, newest first, with what computing their usage reads."""
    return with_usage_relations(
        Subscription.objects.filter(customer=customer, status=SubscriptionStatus.ACTIVE).order_by("-created_at", "id")
    )


def customer_credit_notes(*, customer: Customer) -> QuerySet[CreditNote]:
    """All the customer's credit notes with their invoice, newest first (the Credit notes tab)."""
    return CreditNote.objects.filter(customer=customer).select_related("invoice").order_by("-created_at", "-id")


def invoice_credit_notes(*, invoice: Invoice) -> QuerySet[CreditNote]:
    """The credit notes issued on an invoice, in the order they were numbered (the invoice page)."""
    return CreditNote.objects.filter(organization_id=invoice.organization_id, invoice=invoice).order_by("sequential_id")


def invoice_coupon_credits(*, invoice: Invoice) -> QuerySet[CouponCredit]:
    """What each coupon took off an invoice, in the order they were applied, with the coupon's name."""
    return invoice.coupon_credits.select_related("applied_coupon__coupon").order_by("created_at", "id")
