from django.urls import path

from invoicing import views

app_name = "invoicing"

urlpatterns = [
    path("", views.invoice_list, name="list"),
    path("<uuid:invoice_id>/", views.invoice_detail, name="detail"),
    path("<uuid:invoice_id>/print/", views.invoice_print, name="print"),
    path("<uuid:invoice_id>/finalize/", views.invoice_finalize, name="finalize"),
    path("<uuid:invoice_id>/refresh/", views.invoice_refresh, name="refresh"),
    path("<uuid:invoice_id>/void/", views.invoice_void, name="void"),
]
