from django.urls import path

from invoicing import credit_note_views, views

app_name = "invoicing"

urlpatterns = [
    path("", views.invoice_list, name="list"),
    path("<uuid:invoice_id>/", views.invoice_detail, name="detail"),
    path("<uuid:invoice_id>/print/", views.invoice_print, name="print"),
    path("<uuid:invoice_id>/finalize/", views.invoice_finalize, name="finalize"),
    path("<uuid:invoice_id>/refresh/", views.invoice_refresh, name="refresh"),
    path("<uuid:invoice_id>/void/", views.invoice_void, name="void"),
    path("<uuid:invoice_id>/credit-notes/new/", credit_note_views.credit_note_create, name="credit_note_create"),
    path("credit-notes/<uuid:credit_note_id>/", credit_note_views.credit_note_detail, name="credit_note_detail"),
    path("credit-notes/<uuid:credit_note_id>/void/", credit_note_views.credit_note_void, name="credit_note_void"),
    path(
        "credit-notes/<uuid:credit_note_id>/refund-status/",
        credit_note_views.credit_note_refund_status,
        name="credit_note_refund_status",
    ),
]
