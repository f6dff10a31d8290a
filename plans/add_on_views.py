"""Staff pages for add-ons: one-time charges of the catalogue, applied from a customer's page."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from billing.errors import ValidationFailed
from billing.staff import staff_page
from plans.add_on_forms import AddOnForm
from plans.models import AddOn
from plans.selectors import get_add_on_by_id, list_add_ons
from plans.services import create_add_on, delete_add_on, update_add_on

PER_PAGE = 20


def _get_add_on(request, add_on_id) -> AddOn:
    return get_add_on_by_id(organization=request.organization, add_on_id=add_on_id)


@require_GET
@staff_page
def add_on_list(request):
    page = Paginator(list_add_ons(organization=request.organization), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "plans/add_on_list.html", {"page": page, "total_count": page.paginator.count})


def _add_on_form_page(request, *, add_on: AddOn | None = None):
    creating = add_on is None
    initial = {"amount_currency": request.organization.default_currency} if creating else None
    form = AddOnForm(request.POST or None, add_on=add_on, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if creating:
                create_add_on(organization=request.organization, data=form.service_data())
            else:
                update_add_on(add_on=add_on, data=form.service_data())
        except ValidationFailed as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Add-on created." if creating else "Add-on saved.")
            return redirect(reverse("plans:add_on_list"))
    return render(request, "plans/add_on_form.html", {"form": form, "add_on": add_on})


@require_http_methods(["GET", "POST"])
@staff_page
def add_on_create(request):
    return _add_on_form_page(request)


@require_http_methods(["GET", "POST"])
@staff_page
def add_on_edit(request, add_on_id):
    return _add_on_form_page(request, add_on=_get_add_on(request, add_on_id))


@require_http_methods(["GET", "POST"])
@staff_page
def add_on_delete(request, add_on_id):
    add_on = _get_add_on(request, add_on_id)
    if request.method == "POST":
        delete_add_on(add_on=add_on)
        messages.success(request, f"Add-on {add_on.name} deleted.")
        return redirect(reverse("plans:add_on_list"))
    return render(request, "plans/add_on_delete.html", {"add_on": add_on})
