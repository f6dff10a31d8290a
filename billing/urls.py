from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from billing.api.errors import unknown_api_route
from customers.api import CustomerApi, CustomersApi

# No trailing slashes, as Lago's clients call them. External ids may hold "/" once decoded, so the
# detail route takes the rest of the path; sub-resource routes must come before it.
api_v1 = [
    path("customers", CustomersApi.as_view()),
    re_path(r"^customers/(?P<external_id>.+)$", CustomerApi.as_view()),
    re_path(r"^.*$", unknown_api_route),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", include("customers.urls")),
    path("", RedirectView.as_view(pattern_name="customers:list", permanent=False)),
]
