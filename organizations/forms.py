"""The login forms of the staff pages and of the Django admin: a login refused by the guard
(organizations/backends.py) says so, and for how long, instead of "wrong email or password"."""

import math

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from organizations.login_guard import LoginRefusal


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def refusal_message(refusal: LoginRefusal) -> str:
    if refusal.blocked:
        return (
            "Too many failed login attempts: logging in is blocked for now. "
            f"Try again in {_duration(refusal.retry_after_seconds)}."
        )
    return f"Too many failed login attempts. Wait {_duration(refusal.retry_after_seconds)} before trying again."


class RefusalMessageMixin:
    def get_invalid_login_error(self):
        refusal = getattr(self.request, "login_refusal", None)
        if refusal is None:
            return super().get_invalid_login_error()
        return ValidationError(refusal_message(refusal), code="login_refused")


class StaffLoginForm(RefusalMessageMixin, AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages, "invalid_login": "Wrong email or password."}


class AdminLoginForm(RefusalMessageMixin, AdminAuthenticationForm):
    """Set as the admin site's `login_form` (organizations/apps.py)."""
