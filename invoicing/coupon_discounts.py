"""How a customer's coupons reduce a subscription invoice at its finalization, and how a voided
invoice gives back what they took.

The rules (issue 11, Lago's Credits::AppliedCouponsService where it is right):
- order: coupons limited to metrics, then limited to plans, then the others; oldest first within
  each group; stop once nothing is left to discount;
- base: the eligible fees (all, or those of the coupon's plans or metrics), less what coupons
  already took from them on this invoice;
- a percentage takes round(base × rate / 100); a recurring or forever fixed amount min(amount,
  base); a `once` fixed amount min(what is left of it, base), the rest carrying to later invoices;
- the discount is spread over the eligible fees in proportion to what is left on each;
- a recurring coupon counts billing periods, not invoices: the invoices of one period (a fee in
  advance and usage in arrears) use one of its periods.
"""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count

from coupons.models import AppliedCoupon, Coupon, CouponFrequency
from coupons.services import end_used_up, give_back, lock_active_applied_coupons, record_use
from invoicing.models import CouponCredit, Fee, Invoice, InvoiceStatus, InvoiceType

# Lower sorts first: metric-limited, then plan-limited, then the others.
METRIC_LIMITED, PLAN_LIMITED, UNLIMITED = 0, 1, 2


def _limits(applied_coupons: list[AppliedCoupon]) -> dict:
    """{coupon id: (plan ids, metric ids)} for every coupon; a query of each kind only when a coupon
    is limited to that kind."""
    limits: dict = {applied.coupon_id: (set(), set()) for applied in applied_coupons}
    coupons = [applied.coupon for applied in applied_coupons]
    if not any(coupon.limited_plans or coupon.limited_billable_metrics for coupon in coupons):
        return limits
    plan_links = Coupon.plans.through.objects.filter(coupon_id__in=limits)
    for coupon_id, plan_id in plan_links.values_list("coupon_id", "plan_id"):
        limits[coupon_id][0].add(plan_id)
    metric_links = Coupon.billable_metrics.through.objects.filter(coupon_id__in=limits)
    for coupon_id, metric_id in metric_links.values_list("coupon_id", "billablemetric_id"):
        limits[coupon_id][1].add(metric_id)
    return limits


def _group(limit: tuple[set, set]) -> int:
    plans, metrics = limit
    if metrics:
        return METRIC_LIMITED
    if plans:
        return PLAN_LIMITED
    return UNLIMITED


def _eligible(fees: list[Fee], limit: tuple[set, set]) -> list[Fee]:
    plans, metrics = limit
    if metrics:
        return [fee for fee in fees if fee.charge_id is not None and fee.charge.billable_metric_id in metrics]
    if plans:
        return [fee for fee in fees if fee.subscription_id is not None and fee.subscription.plan_id in plans]
    return fees


def _left(fee: Fee) -> int:
    return fee.amount_cents - fee.coupons_amount_cents


def spread(amount_cents: int, weights: list[int]) -> list[int]:
    """`amount_cents` split in proportion to `weights` (all ≥ 0, sum ≥ amount), in whole minor units
    that add up exactly: the largest remainders get the leftover units, earlier ones first on ties."""
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    shares = [amount_cents * weight // total for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda index: (-(amount_cents * weights[index] % total), index))
    for index in remainders[: amount_cents - sum(shares)]:
        shares[index] += 1
    return shares


def _discount(applied: AppliedCoupon, base: int, currency: str) -> int:
    if applied.percentage_rate is not None:
        amount = (Decimal(base) * applied.percentage_rate / Decimal(100)).quantize(Decimal(1), ROUND_HALF_UP)
        return min(int(amount), base)
    if applied.amount_currency != currency:
        return 0  # refused when applied; a customer's currency cannot change once it is billed
    if applied.amount_cents_remaining is not None:
        return min(applied.amount_cents_remaining, base)
    return min(applied.amount_cents, base)


def invoice_period_start(invoice: Invoice) -> datetime | None:
    """The billing period an invoice belongs to: the one its subscription is billed for."""
    link = invoice.invoice_subscriptions.order_by("period_start").first()
    return link.period_start if link else None


def apply_coupons(invoice: Invoice, *, fees: list[Fee] | None = None, at: datetime) -> int:
    """Reduce a subscription invoice being finalized by the customer's active coupons; return the
    discount. Call in the finalization's transaction, the invoice locked and still a draft; the
    invoice's amounts change in memory and the caller saves them. `fees` are the invoice's fees
    when the caller has them in memory (with their charges and subscriptions), read otherwise."""
    if invoice.invoice_type != InvoiceType.SUBSCRIPTION or invoice.fees_amount_cents <= 0:
        return 0
    applied_coupons = lock_active_applied_coupons(customer_id=invoice.customer_id)
    if not applied_coupons:
        return 0
    if fees is None:
        fees = list(invoice.fees.select_related("charge", "subscription").order_by("created_at", "id"))
    # Only recurring coupons count periods: the others cost no query for it.
    recurring = [applied for applied in applied_coupons if applied.frequency == CouponFrequency.RECURRING]
    period_start = invoice_period_start(invoice) if recurring else None
    counted_periods = set()
    if recurring:
        counted_periods = set(
            CouponCredit.objects.filter(applied_coupon__in=recurring, period_start=period_start)
            .exclude(invoice__status=InvoiceStatus.VOIDED)
            .values_list("applied_coupon_id", "period_start")
        )
    limits = _limits(applied_coupons)
    applied_coupons.sort(key=lambda applied: (_group(limits[applied.coupon_id]), applied.created_at, applied.pk))
    total = 0
    credits: list[CouponCredit] = []
    for applied in applied_coupons:
        if sum(_left(fee) for fee in fees) == 0:
            break
        new_period = (applied.pk, period_start) not in counted_periods
        if applied.frequency == CouponFrequency.RECURRING and new_period and applied.frequency_duration_remaining == 0:
            end_used_up(applied_coupon=applied, at=at)
            continue
        eligible = _eligible(fees, limits[applied.coupon_id])
        base = sum(_left(fee) for fee in eligible)
        amount = _discount(applied, base, invoice.currency) if base > 0 else 0
        if amount <= 0:
            continue
        for fee, share in zip(eligible, spread(amount, [_left(fee) for fee in eligible]), strict=True):
            fee.coupons_amount_cents += share
        credits.append(
            CouponCredit(invoice=invoice, applied_coupon=applied, amount_cents=amount, period_start=period_start)
        )
        record_use(applied_coupon=applied, amount_cents=amount, new_period=new_period, at=at)
        total += amount
    if total:
        CouponCredit.objects.bulk_create(credits)
        # Fees not inserted yet (finalized as they are billed) are inserted by the caller, shares included.
        inserted = [fee for fee in fees if not fee._state.adding]
        if inserted:
            Fee.objects.bulk_update(inserted, ["coupons_amount_cents"])
        invoice.coupons_amount_cents += total
        invoice.total_amount_cents -= total  # saved by the caller, with the rest of the finalization
    return total


def return_coupons(invoice: Invoice) -> int:
    """Give back to their applied coupons what a voided invoice took; return the amount. Call once,
    as the invoice becomes voided (its status says it was given back).

    The credits stay, as the record of what the invoice had taken (Lago keeps them too); a voided
    invoice's credits no longer count a recurring coupon's period, whose period is returned only
    when no other live invoice of that period used it.
    """
    credits = list(invoice.coupon_credits.order_by("created_at", "id"))
    if not credits:
        return 0
    others = dict(
        CouponCredit.objects.filter(
            applied_coupon_id__in=[credit.applied_coupon_id for credit in credits],
            period_start__in=[credit.period_start for credit in credits],
        )
        .exclude(invoice=invoice)
        .exclude(invoice__status=InvoiceStatus.VOIDED)
        .values_list("applied_coupon_id")
        .annotate(count=Count("id"))
        .values_list("applied_coupon_id", "count")
    )
    returned = 0
    for credit in credits:
        give_back(
            applied_coupon_id=credit.applied_coupon_id,
            amount_cents=credit.amount_cents,
            period_returned=not others.get(credit.applied_coupon_id),
        )
        returned += credit.amount_cents
    return returned
