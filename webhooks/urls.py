from django.urls import path

from webhooks import views

app_name = "webhooks"

# Included under /developers/webhooks/ (Lago's Developers section). The UI addresses endpoints and
# messages by internal id.
urlpatterns = [
    path("", views.webhook_index, name="index"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<uuid:endpoint_id>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<uuid:endpoint_id>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("hmac-key/", views.hmac_key, name="hmac_key"),
    path("hmac-key/rotate/", views.hmac_key_rotate, name="hmac_key_rotate"),
    path("log/", views.message_list, name="message_list"),
    path("log/<uuid:message_id>/", views.message_detail, name="message_detail"),
    path("log/<uuid:message_id>/resend/", views.message_resend, name="message_resend"),
]
