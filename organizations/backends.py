"""How staff log in: Django's email-and-password check behind the login guard. The staff login
page and the Django admin's both authenticate through here (AUTHENTICATION_BACKENDS)."""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from organizations.login_guard import client_address, record_login_failure, record_login_success, start_login_attempt
from organizations.models import User


class GuardedModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        attempt = start_login_attempt(email=username, address=client_address(request))
        if attempt.refusal is not None:
            if request is not None:
                # For the login forms, which tell the user why and for how long (organizations/forms.py).
                request.login_refusal = attempt.refusal
            # Stops django.contrib.auth.authenticate() at once: no password is checked.
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_login_failure(attempt)
        else:
            record_login_success(attempt)
        return user
