"""The staff login page."""

from django.contrib.auth.views import LoginView

from organizations.forms import StaffLoginForm


class StaffLoginView(LoginView):
    authentication_form = StaffLoginForm
    template_name = "organizations/login.html"
    redirect_authenticated_user = True
