from django.urls import path

from coupons import views

app_name = "coupons"

# Included under /coupons/, Lago's UI route.
urlpatterns = [
    path("", views.coupon_list, name="list"),
    path("new/", views.coupon_create, name="create"),
    path("<uuid:coupon_id>/edit/", views.coupon_edit, name="edit"),
    path("<uuid:coupon_id>/terminate/", views.coupon_terminate, name="terminate"),
    path("<uuid:coupon_id>/delete/", views.coupon_delete, name="delete"),
]
