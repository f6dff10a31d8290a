from django.urls import path

from coupons import customer_views as coupon_views
from customers import views
from invoicing import customer_deletion_views, one_off_views
from wallets import views as wallet_views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("<uuid:customer_id>/", views.customer_detail, name="detail"),
    path("<uuid:customer_id>/edit/", views.customer_edit, name="edit"),
    path("<uuid:customer_id>/assign-plan/", views.customer_assign_plan, name="assign_plan"),
    path(
        "<uuid:customer_id>/subscriptions/<uuid:subscription_id>/terminate/",
        views.customer_terminate_subscription,
        name="terminate_subscription",
    ),
    # The other objects the Actions menu assigns: coupons, add-ons (a one-off invoice), a wallet.
    path("<uuid:customer_id>/apply-coupon/", coupon_views.customer_apply_coupon, name="apply_coupon"),
    path(
        "<uuid:customer_id>/coupons/<uuid:applied_coupon_id>/terminate/",
        coupon_views.customer_terminate_coupon,
        name="terminate_coupon",
    ),
    path("<uuid:customer_id>/apply-add-on/", one_off_views.customer_apply_add_on, name="apply_add_on"),
    path("<uuid:customer_id>/wallets/new/", wallet_views.wallet_create, name="wallet_create"),
    path("<uuid:customer_id>/wallets/<uuid:wallet_id>/top-up/", wallet_views.wallet_top_up, name="wallet_top_up"),
    path("<uuid:customer_id>/wallets/<uuid:wallet_id>/void/", wallet_views.wallet_void, name="wallet_void"),
    path(
        "<uuid:customer_id>/wallets/<uuid:wallet_id>/terminate/",
        wallet_views.wallet_terminate,
        name="wallet_terminate",
    ),
    # Actions → Delete customer: the preview of the cascade, then the deletion.
    path("<uuid:customer_id>/delete/", customer_deletion_views.customer_delete, name="delete"),
    # Last: any other single segment is a tab of the customer view.
    path("<uuid:customer_id>/<slug:tab>/", views.customer_detail, name="tab"),
]
