"""Staff page for Actions → Apply an add-on: a one-off invoice of add-ons, issued (finalized) at
once through `invoicing.one_off.create_one_off_invoice`, the service behind the API's POST /invoices."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.errors import NotFound, ValidationFailed
from billing.staff import staff_page
from customers.selectors import get_customer
from invoicing.one_off import create_one_off_invoice
from invoicing.one_off_forms import AddOnFeeFormSet, CurrencyForm, add_service_errors
from plans.selectors import add_ons_by_name


@require_http_methods(["GET", "POST"])
@staff_page
def customer_apply_add_on(request, customer_id):
    customer = get_customer(organization=request.organization, customer_id=customer_id)
    add_ons = {add_on.code: add_on for add_on in add_ons_by_name(organization=request.organization)}
    data = request.POST if request.method == "POST" else None
    currency_form = CurrencyForm(data, customer=customer)
    formset = AddOnFeeFormSet(data, prefix="fees", form_kwargs={"add_ons": add_ons, "currency": customer.currency})
    errors: list[str] = []
    # Both are checked, so that every mistake shows at once.
    valid = all([currency_form.is_valid(), formset.is_valid()])
    if request.method == "POST" and valid:
        currency = currency_form.invoice_currency()
        fees = formset.service_fees(currency)
        if fees is not None:
            try:
                invoice = create_one_off_invoice(customer=customer, fees=fees, currency=currency)
            except (ValidationFailed, NotFound) as exc:  # NotFound: an add-on deleted meanwhile
                errors = add_service_errors(exc, currency_form=currency_form, formset=formset)
            else:
                messages.success(request, f"Add-ons invoiced on {invoice.number}.")
                return redirect("invoicing:detail", invoice.pk)
    context = {
        "customer": customer,
        "currency_form": currency_form,
        "formset": formset,
        "errors": errors,
        "has_add_ons": bool(add_ons),
    }
    return render(request, "invoicing/one_off_form.html", context)
