"""What every staff page needs: a logged-in member of an organization."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from billing.errors import NotFound


def staff_page(view):
    """Require login, set `request.organization`, and turn a domain NotFound into a 404 page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        organization = request.user.organization
        if organization is None:
            return render(request, "no_organization.html", status=403)
        request.organization = organization
        try:
            # Dates on staff pages read in the organization's timezone unless a page narrows it.
            with timezone.override(organization.default_timezone):
                return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.code) from exc

    return wrapper
