"""The home dashboard: how the business is doing, one currency at a time."""

from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from analytics.charts import metric_bar_chart, monthly_bar_chart, share_text
from analytics.selectors import (
    billed_currencies,
    clean_currency,
    gross_revenue,
    invoiced_usage_per_metric,
    last_months,
    mrr,
    newest_invoices,
    receivables,
)
from billing.errors import ValidationFailed
from billing.staff import staff_page
from invoicing.numbering import draft_number

MONTHS = 12
NEWEST_INVOICES = 5


def _currency(request, default: str) -> tuple[str, str | None]:
    """The currency asked for (`?currency=`), else the organization's default; with the message the
    picker shows when what was asked for is no currency."""
    try:
        asked = clean_currency(request.GET.get("currency", "").strip())
    except ValidationFailed:
        return default, "That is not a currency: the figures are in the default currency."
    return asked or default, None


@require_GET
@staff_page
def dashboard(request):
    organization = request.organization
    # The UTC date, as the API's `payment_overdue` and the analytics endpoints take it.
    today = timezone.now().date()
    currencies = billed_currencies(organization=organization)
    currency, currency_error = _currency(request, default=currencies[0])
    if currency not in currencies:
        currencies.append(currency)  # nothing billed in it yet: its figures are zeros
    figures = {"organization": organization, "today": today, "currency": currency}

    months = last_months(today, MONTHS)
    this_month = months[-1]
    revenue = {row.month: row for row in gross_revenue(**figures, months=MONTHS)}
    recurring = {row.month: row.amount_cents for row in mrr(**figures, months=MONTHS)}
    usage = invoiced_usage_per_metric(**figures, months=MONTHS)
    usage_chart = metric_bar_chart(
        [(item.name or "Usage without a metric", item.code, item.amount_cents) for item in usage], currency
    )
    context = {
        "currency": currency,
        "currencies": currencies,
        "currency_error": currency_error,
        "months": MONTHS,
        "first_month": months[0],
        "this_month": this_month,
        "mrr_now": recurring.get(this_month, 0),
        "revenue_now": revenue.get(this_month),
        "receivables": receivables(**figures),
        "revenue_chart": monthly_bar_chart(
            [(month, revenue[month].amount_cents if month in revenue else 0) for month in months], currency
        ),
        "revenue_counts": [revenue[month].invoices_count if month in revenue else 0 for month in months],
        "mrr_chart": monthly_bar_chart([(month, recurring.get(month, 0)) for month in months], currency),
        "usage_chart": usage_chart,
        "usage_rows": [(bar, share_text(bar.amount_cents, usage_chart.total_cents)) for bar in usage_chart.bars],
        "invoices": newest_invoices(organization=organization, count=NEWEST_INVOICES),
        "draft_number": draft_number(organization),
    }
    # A change of currency swaps the figures only; the picker keeps its focus.
    template = "analytics/dashboard.html" + ("#figures" if request.htmx else "")
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
