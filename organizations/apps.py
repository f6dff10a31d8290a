from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "organizations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The forms need the app registry, hence imported here. The admin's login says, as the staff
        # login does, that the login guard refused an attempt (organizations/forms.py).
        from django.contrib import admin

        from organizations.forms import AdminLoginForm

        admin.site.login_form = AdminLoginForm
