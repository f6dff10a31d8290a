from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from analytics.api import GrossRevenueApi, InvoiceCollectionApi, InvoicedUsageApi, MrrApi, OverdueBalanceApi
from billing.api.errors import bad_request, server_error, unknown_api_route
from billing.api.views import DocsView, SchemaView
from coupons.api import AppliedCouponsApi, CouponApi, CouponsApi, CustomerAppliedCouponApi, CustomerAppliedCouponsApi
from customers.api import CustomerApi, CustomersApi
from events.api import EventApi, EventsApi, EventsBatchApi
from invoicing.api import CurrentUsageApi
from invoicing.credit_notes_api import CreditNoteApi, CreditNoteEstimateApi, CreditNotesApi, CreditNoteVoidApi
from invoicing.customer_deletion_api import CustomerDeletionPreviewApi
from invoicing.invoices_api import InvoiceApi, InvoiceFinalizeApi, InvoiceRefreshApi, InvoicesApi, InvoiceVoidApi
from invoicing.subscriptions_api import SubscriptionApi, SubscriptionsApi
from plans.add_ons_api import AddOnApi, AddOnsApi
from plans.api import (
    BillableMetricApi,
    BillableMetricsApi,
    PlanApi,
    PlansApi,
)
from wallets.api import (
    WalletApi,
    WalletsApi,
    WalletTransactionApi,
    WalletTransactionListApi,
    WalletTransactionsApi,
)
from webhooks.api import (
    WebhookEndpointApi,
    WebhookEndpointsApi,
    WebhookJsonPublicKeyApi,
    WebhookPublicKeyApi,
)

# No trailing slashes, as Lago's clients call them. External ids may hold "/" once decoded, so the
# detail route takes the rest of the path; sub-resource routes must come before it.
api_v1 = [
    path("customers", CustomersApi.as_view()),
    re_path(r"^customers/(?P<external_id>[\s\S]+)/current_usage$", CurrentUsageApi.as_view()),
    re_path(
        r"^customers/(?P<external_id>[\s\S]+)/applied_coupons/(?P<lago_id>[^/]+)$", CustomerAppliedCouponApi.as_view()
    ),
    re_path(r"^customers/(?P<external_id>[\s\S]+)/applied_coupons$", CustomerAppliedCouponsApi.as_view()),
    re_path(r"^customers/(?P<external_id>[\s\S]+)/deletion_preview$", CustomerDeletionPreviewApi.as_view()),
    re_path(r"^customers/(?P<external_id>[\s\S]+)$", CustomerApi.as_view()),
    path("billable_metrics", BillableMetricsApi.as_view()),
    re_path(r"^billable_metrics/(?P<code>[\s\S]+)$", BillableMetricApi.as_view()),
    path("plans", PlansApi.as_view()),
    re_path(r"^plans/(?P<code>[\s\S]+)$", PlanApi.as_view()),
    path("coupons", CouponsApi.as_view()),
    re_path(r"^coupons/(?P<code>[\s\S]+)$", CouponApi.as_view()),
    path("applied_coupons", AppliedCouponsApi.as_view()),
    path("add_ons", AddOnsApi.as_view()),
    re_path(r"^add_ons/(?P<code>[\s\S]+)$", AddOnApi.as_view()),
    path("subscriptions", SubscriptionsApi.as_view()),
    re_path(r"^subscriptions/(?P<external_id>[\s\S]+)$", SubscriptionApi.as_view()),
    path("events", EventsApi.as_view()),
    path("events/batch", EventsBatchApi.as_view()),
    re_path(r"^events/(?P<transaction_id>[\s\S]+)$", EventApi.as_view()),
    path("credit_notes", CreditNotesApi.as_view()),
    path("credit_notes/estimate", CreditNoteEstimateApi.as_view()),
    path("credit_notes/<str:lago_id>/void", CreditNoteVoidApi.as_view()),
    path("credit_notes/<str:lago_id>", CreditNoteApi.as_view()),
    path("invoices", InvoicesApi.as_view()),
    re_path(r"^invoices/(?P<lago_id>[^/]+)/finalize$", InvoiceFinalizeApi.as_view()),
    re_path(r"^invoices/(?P<lago_id>[^/]+)/refresh$", InvoiceRefreshApi.as_view()),
    re_path(r"^invoices/(?P<lago_id>[^/]+)/void$", InvoiceVoidApi.as_view()),
    re_path(r"^invoices/(?P<lago_id>[^/]+)$", InvoiceApi.as_view()),
    path("wallets", WalletsApi.as_view()),
    re_path(r"^wallets/(?P<lago_id>[^/]+)/wallet_transactions$", WalletTransactionListApi.as_view()),
    re_path(r"^wallets/(?P<lago_id>[^/]+)$", WalletApi.as_view()),
    path("wallet_transactions", WalletTransactionsApi.as_view()),
    re_path(r"^wallet_transactions/(?P<lago_id>[^/]+)$", WalletTransactionApi.as_view()),
    path("webhook_endpoints", WebhookEndpointsApi.as_view()),
    re_path(r"^webhook_endpoints/(?P<lago_id>[^/]+)$", WebhookEndpointApi.as_view()),
    path("webhooks/public_key", WebhookPublicKeyApi.as_view()),
    path("webhooks/json_public_key", WebhookJsonPublicKeyApi.as_view()),
    path("analytics/gross_revenue", GrossRevenueApi.as_view()),
    path("analytics/mrr", MrrApi.as_view()),
    path("analytics/invoiced_usage", InvoicedUsageApi.as_view()),
    path("analytics/overdue_balance", OverdueBalanceApi.as_view()),
    path("analytics/invoice_collection", InvoiceCollectionApi.as_view()),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema", SchemaView.as_view(), name="api-schema"),
    path("api/docs", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Lago's catch-all: any other path under /api/ (another version, a typo, /api itself) answers
    # Lago's JSON 404, never Django's HTML page, whatever the method. It also spares those paths
    # APPEND_SLASH's redirect, which Lago's clients don't follow.
    re_path(r"^api(?:/|$)", unknown_api_route),
    path("admin/", admin.site.urls),
    path("login/", include("organizations.urls")),  # the staff login, behind the login guard
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("plans.urls")),
    path("coupons/", include("coupons.urls")),
    path("customers/", include("customers.urls")),
    path("invoices/", include("invoicing.urls")),
    path("developers/webhooks/", include("webhooks.urls")),
    # The home page: the dashboard.
    path("", include("analytics.urls")),
]

# JSON under /api/, Django's pages elsewhere (billing/api/errors.py).
handler400 = bad_request
handler500 = server_error
