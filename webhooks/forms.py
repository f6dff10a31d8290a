"""Staff form for webhook endpoints. It parses input; the webhook services decide what is valid (the
URL's scheme and address, uniqueness, the limit of endpoints per organization)."""

from django import forms

from billing.errors import DomainError
from billing.staff_errors import add_form_errors
from webhooks.models import WEBHOOK_TYPES, SignatureAlgorithm, WebhookEndpoint

LISTENS_TO_ALL = "all"
LISTENS_TO_SOME = "some"

OBJECT_LABELS = {
    "customer": "Customers",
    "subscription": "Subscriptions",
    "invoice": "Invoices",
    "credit_note": "Credit notes",
    "wallet": "Wallets",
    "wallet_transaction": "Wallet transactions",
}


class WebhookEndpointForm(forms.Form):
    webhook_url = forms.CharField(
        label="URL",
        max_length=1024,
        help_text="Where the messages are posted: an http:// or https:// address, such as https://example.com/webhooks.",
        widget=forms.TextInput(
            attrs={"inputmode": "url", "autocomplete": "off", "placeholder": "https://", "class": "mono"}
        ),
    )
    name = forms.CharField(
        label="Name", required=False, empty_value=None, max_length=255, help_text="Optional, for your own reference."
    )
    signature_algo = forms.ChoiceField(
        label="Signature",
        choices=[
            (SignatureAlgorithm.JWT, "JWT (RS256): receivers verify it with the public key of this page"),
            (SignatureAlgorithm.HMAC, "HMAC-SHA256: receivers verify it with the organization’s HMAC key"),
        ],
        initial=SignatureAlgorithm.JWT,
        widget=forms.RadioSelect,
    )
    listens_to = forms.ChoiceField(
        label="Messages sent to this endpoint",
        choices=[(LISTENS_TO_ALL, "All events, including types added later"), (LISTENS_TO_SOME, "Only these events")],
        initial=LISTENS_TO_ALL,
        widget=forms.RadioSelect,
    )
    event_types = forms.MultipleChoiceField(
        label="Event types",
        required=False,
        choices=[(webhook_type, webhook_type) for webhook_type in WEBHOOK_TYPES],
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, endpoint: WebhookEndpoint | None = None, **kwargs):
        self.endpoint = endpoint
        if endpoint is not None:
            kwargs["initial"] = {
                "webhook_url": endpoint.webhook_url,
                "name": endpoint.name or "",
                "signature_algo": endpoint.signature_algo,
                "listens_to": LISTENS_TO_ALL if endpoint.event_types is None else LISTENS_TO_SOME,
                "event_types": endpoint.event_types or [],
            }
        super().__init__(*args, **kwargs)
        if endpoint is not None:
            self.fields["webhook_url"].help_text += " Messages already written keep the URL they were written for."

    def event_type_groups(self) -> list[tuple[str, list]]:
        """The checkboxes of the event types, grouped by the object they are about."""
        groups: dict[str, list] = {}
        for checkbox in self["event_types"]:
            object_type = checkbox.data["value"].split(".", 1)[0]
            groups.setdefault(OBJECT_LABELS.get(object_type, object_type), []).append(checkbox)
        return list(groups.items())

    def clean(self):
        cleaned = super().clean()
        # The checked types count only with "Only these events"; with none checked the endpoint would
        # silently receive nothing, which is rarely what was meant.
        some = cleaned.get("listens_to") == LISTENS_TO_SOME
        if some and not cleaned.get("event_types") and "event_types" not in self.errors:
            self.add_error("event_types", "Choose at least one event type, or “All events”.")
        return cleaned

    def service_data(self) -> dict:
        """What the endpoint services take, as the API passes it (`event_types` None: all)."""
        data = self.cleaned_data
        return {
            "webhook_url": data["webhook_url"],
            "name": data["name"],
            "signature_algo": data["signature_algo"],
            "event_types": None if data["listens_to"] == LISTENS_TO_ALL else list(data["event_types"]),
        }

    def add_service_errors(self, error: DomainError) -> None:
        add_form_errors(self, error, resource="webhook_endpoint")
