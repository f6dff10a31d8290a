from django.urls import path

from customers import views

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
    path("<uuid:customer_id>/<slug:tab>/", views.customer_detail, name="tab"),
]
