"""Invoices that bill no subscription: one-off invoices of add-ons, and credit invoices that sell
prepaid credits. Both are finalized the moment they are made, as in Lago; neither takes coupons
or prepaid credits."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from billing.currencies import is_currency
from billing.errors import NotFound, ValidationFailed
from billing.text import add_error, clean_text
from customers.models import Customer
from invoicing.models import Fee, FeeType, Invoice, InvoiceType
from invoicing.payment_terms import payment_terms
from invoicing.services import finalize_invoice
from plans.models import AddOn

MAX_UNITS = Decimal(10) ** 12
UNITS_DECIMALS = Fee._meta.get_field("units").decimal_places
MAX_AMOUNT_CENTS = 10**15


def issue_invoice(
    *, customer: Customer, invoice_type: str, currency: str, fees: list[Fee], at: datetime | None = None
) -> Invoice:
    """Write an invoice of `fees` and finalize it at once (its number is taken now)."""
    at = at or timezone.now()
    issuing_date = at.astimezone(ZoneInfo(customer.applicable_timezone)).date()
    invoice = Invoice.objects.create(
        organization_id=customer.organization_id,
        customer=customer,
        invoice_type=invoice_type,
        issuing_date=issuing_date,
        **payment_terms(customer, issuing_date),
        currency=currency,
    )
    for fee in fees:
        fee.invoice = invoice
    Fee.objects.bulk_create(fees)
    invoice.fees_amount_cents = sum(fee.amount_cents for fee in fees)
    invoice.total_amount_cents = invoice.fees_amount_cents
    invoice.save()
    invoice.customer = customer
    return finalize_invoice(invoice=invoice, at=at, refresh=False)


def _clean_fee_rows(rows: Any) -> list[dict[str, Any]]:
    if not rows:
        raise NotFound("fees")
    if not isinstance(rows, list):
        raise ValidationFailed({"fees": ["value_is_invalid"]})
    cleaned = []
    errors: dict[str, list[str]] = {}
    for row in rows:
        if not isinstance(row, dict):
            raise ValidationFailed({"fees": ["value_is_invalid"]})
        units = row.get("units")
        if units is None:
            units = Decimal(1)
        if (
            isinstance(units, bool)
            or not isinstance(units, int | Decimal)
            or not 0 < units < MAX_UNITS
            or Decimal(units).as_tuple().exponent < -UNITS_DECIMALS  # more than a fee's units can keep
        ):
            add_error(errors, "units", "value_is_invalid")
        unit_amount = row.get("unit_amount_cents")
        if unit_amount is not None and (
            isinstance(unit_amount, bool) or not isinstance(unit_amount, int) or not 0 <= unit_amount < MAX_AMOUNT_CENTS
        ):
            add_error(errors, "unit_amount_cents", "value_is_invalid")
        description, error = clean_text(row.get("description"), required=False, max_length=255)
        add_error(errors, "description", error)
        display_name, error = clean_text(row.get("invoice_display_name"), required=False, max_length=255)
        add_error(errors, "invoice_display_name", error)
        code = row.get("add_on_code")
        if not isinstance(code, str) or not code:
            add_error(errors, "add_on_code", "value_is_mandatory")
        cleaned.append(
            {
                "add_on_code": code,
                "units": Decimal(units) if isinstance(units, int | Decimal) else units,
                "unit_amount_cents": unit_amount,
                "description": description,
                "invoice_display_name": display_name,
            }
        )
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@transaction.atomic
def create_one_off_invoice(
    *, customer: Customer, fees: Any, currency: str | None = None, at: datetime | None = None
) -> Invoice:
    """A finalized `one_off` invoice of add-ons (Lago's Invoices::CreateOneOffService): each fee
    names an add-on; its unit amount defaults to the add-on's and its units to 1, its amount is
    round(unit amount × units). The currency defaults to the customer's, which it sets if blank; an
    add-on priced in another currency needs its unit amount given (ours: Lago bills its price as is)."""
    customer = Customer.objects.select_for_update(no_key=True).select_related("organization").get(pk=customer.pk)
    if customer.deleted_at is not None:
        raise NotFound("customer")
    rows = _clean_fee_rows(fees)
    currency = currency or customer.currency
    if currency is None:
        raise ValidationFailed({"currency": ["value_is_mandatory"]})
    if not isinstance(currency, str) or not is_currency(currency):
        raise ValidationFailed({"currency": ["value_is_invalid"]})
    if customer.currency is not None and customer.currency != currency:
        raise ValidationFailed({"currency": ["currencies_does_not_match"]})
    add_ons = {
        add_on.code: add_on
        for add_on in AddOn.objects.filter(
            organization_id=customer.organization_id,
            deleted_at__isnull=True,
            code__in=[row["add_on_code"] for row in rows],
        )
    }
    built = []
    for row in rows:
        add_on = add_ons.get(row["add_on_code"])
        if add_on is None:
            raise NotFound("add_on")
        if row["unit_amount_cents"] is None and add_on.amount_currency != currency:
            # Ours: the add-on's price is in another currency; billing it as this one would be wrong.
            raise ValidationFailed({"currency": ["currencies_does_not_match"]})
        unit_amount = add_on.amount_cents if row["unit_amount_cents"] is None else row["unit_amount_cents"]
        amount = int((Decimal(unit_amount) * row["units"]).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if amount >= MAX_AMOUNT_CENTS:
            raise ValidationFailed({"units": ["value_is_out_of_range"]})
        built.append(
            Fee(
                add_on=add_on,
                fee_type=FeeType.ADD_ON,
                description=row["description"]
                or row["invoice_display_name"]
                or add_on.invoice_display_name
                or add_on.name,
                invoice_display_name=row["invoice_display_name"],
                amount_cents=amount,
                unit_amount_cents=unit_amount,
                currency=currency,
                units=row["units"],
            )
        )
    if customer.currency is None:
        customer.currency = currency
        customer.save(update_fields=["currency", "updated_at"])
    return issue_invoice(customer=customer, invoice_type=InvoiceType.ONE_OFF, currency=currency, fees=built, at=at)
