"""The staff login page, included at /login/ by billing/urls.py."""

from django.urls import path

from organizations.views import StaffLoginView

urlpatterns = [path("", StaffLoginView.as_view(), name="login")]
