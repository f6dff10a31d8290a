"""Lago's v1 wallet and wallet transaction endpoints (reference/lago-api.md §2.8).

Bodies are read by billing.api.input.read_input; the rules live in `wallets.services` (the ledger)
and `invoicing.prepaid_credits` (opening and topping up a wallet, selling paid credits on a credit
invoice, the ongoing balance). This module holds the two writers, `wallet_payload` and
`wallet_transaction_payload`, for everything that shows a wallet or a transaction (webhooks too).
"""

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.api.fields import DATETIME_FORMAT, iso_ms
from billing.api.input import DateTime, LagoInput, many, read_input
from billing.api.pagination import paginate
from billing.api.schema import EXTERNAL_CUSTOMER_ID_FILTER, PAGINATION_PARAMETERS, PaginationMeta, errors
from billing.api.views import LagoApiView
from billing.errors import NotFound, ValidationFailed
from billing.money import from_minor_units
from customers.selectors import get_customer_by_external_id
from invoicing.api import decimal_string
from invoicing.prepaid_credits import (
    OngoingBalance,
    TopUp,
    create_wallet,
    ongoing_balance,
    stored_ongoing_balance,
    top_up_wallet,
)
from wallets.models import (
    TransactionReason,
    TransactionStatus,
    TransactionType,
    Wallet,
    WalletStatus,
    WalletTransaction,
)
from wallets.selectors import get_wallet, get_wallet_transaction, list_wallet_transactions, list_wallets
from wallets.services import terminate_wallet, update_wallet

# What Lago prints for the options we don't offer, and accepts back as their neutral value.
BILLING_ENTITY_CODE = "default"
PRIORITY = 50
APPLIES_TO = {"fee_types": [], "billable_metric_codes": []}
PAYMENT_METHOD = {"payment_method_id": None, "payment_method_type": "provider"}
INVOICE_CUSTOM_SECTION = {"skip_invoice_custom_sections": False, "invoice_custom_section_codes": []}

# `wallets.services.create_wallet` quantizes the rate to 15 decimals before it checks its size, and
# Decimal's default 28 digits cannot do that for a rate of 10^13 or more (InvalidOperation, a 500).
# Until the service checks the size first, such a rate is refused here, with the service's code.
RATE_AMOUNT_LIMIT = Decimal(10) ** 13


# Input ----------------------------------------------------------------------------------------

PLAIN_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


@extend_schema_field({"type": "string", "format": "decimal", "example": "10.0"})
class DecimalText(serializers.Field):
    """A decimal quantity as Lago's clients send it: text ("10.5", what lago-python-client sends)
    or a JSON number, read exactly, never through a float. Sign and range are the service's."""

    default_error_messages = {"invalid": "Not a decimal number."}

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return Decimal(data)
        if isinstance(data, float):
            value = Decimal(repr(data))
            if not value.is_finite():
                self.fail("invalid")
            return value
        if not isinstance(data, str) or not PLAIN_DECIMAL.fullmatch(data):
            self.fail("invalid")
        return Decimal(data)

    def to_representation(self, value: Decimal) -> str:
        return decimal_string(value)


class TransactionMetadataInput(LagoInput):
    # Whether a row is complete and its text storable is the ledger's rule (`value_is_invalid`).
    key = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    value = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


class WalletInput(LagoInput):
    unsupported = {
        "code": None,
        "priority": PRIORITY,
        "recurring_transaction_rules": [],
        "applies_to": APPLIES_TO,
        "invoice_requires_successful_payment": False,
        "paid_top_up_min_amount_cents": None,
        "paid_top_up_max_amount_cents": None,
        "ignore_paid_top_up_limits_on_creation": False,
        "metadata": {},
        "payment_method": PAYMENT_METHOD,
        "invoice_custom_section": INVOICE_CUSTOM_SECTION,
        "billing_entity_code": BILLING_ENTITY_CODE,
        "purchase_order_number": None,
    }

    # Unknown, missing or deleted: Lago's 422 `{"customer": ["customer_not_found"]}`.
    external_customer_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    rate_amount = DecimalText(required=False, allow_null=True, help_text="What one credit is worth, in currency units.")
    currency = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    expiration_at = DateTime(required=False, allow_null=True)
    paid_credits = DecimalText(required=False, allow_null=True)
    granted_credits = DecimalText(required=False, allow_null=True)
    # The name and metadata of the transactions the initial credits make.
    transaction_name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    transaction_metadata = many(TransactionMetadataInput(), required=False, allow_null=True)

    def validate_rate_amount(self, value: Decimal | None) -> Decimal | None:
        if value is not None and abs(value) >= RATE_AMOUNT_LIMIT:
            raise serializers.ValidationError("Too large.", code="invalid")
        return value


class WalletUpdateInput(LagoInput):
    unsupported = {
        "code": None,
        "priority": PRIORITY,
        "recurring_transaction_rules": [],
        "applies_to": APPLIES_TO,
        "invoice_requires_successful_payment": False,
        "paid_top_up_min_amount_cents": None,
        "paid_top_up_max_amount_cents": None,
        "metadata": {},
        "payment_method": PAYMENT_METHOD,
        "invoice_custom_section": INVOICE_CUSTOM_SECTION,
        "purchase_order_number": None,
    }

    name = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    expiration_at = DateTime(required=False, allow_null=True)


class WalletTransactionInput(LagoInput):
    unsupported = {
        "invoice_requires_successful_payment": False,
        "ignore_paid_top_up_limits": False,
        "purchase_order_number": None,
        "payment_method": PAYMENT_METHOD,
        "invoice_custom_section": INVOICE_CUSTOM_SECTION,
    }

    # Text, not a UUID field: an unknown or malformed id is Lago's 422 `wallet_not_found`.
    wallet_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    paid_credits = DecimalText(required=False, allow_null=True)
    granted_credits = DecimalText(required=False, allow_null=True)
    voided_credits = DecimalText(required=False, allow_null=True)
    # The ledger stores the name as given (it does not check it): the column's length is enforced here.
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    metadata = many(TransactionMetadataInput(), required=False, allow_null=True)


# Output ---------------------------------------------------------------------------------------


def _decimal(value: Decimal | int) -> str:
    # Decimal(): a wallet just created holds its model defaults, the int 0, until it is read back.
    return decimal_string(Decimal(value))


def _timestamp(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime(DATETIME_FORMAT) if value is not None else None


def wallet_payload(wallet: Wallet, ongoing: OngoingBalance | None = None) -> dict[str, Any]:
    """Lago's wallet object (V1::WalletSerializer), its one writer. Reads `wallet.customer`
    (selected by the selectors). `ongoing` is the wallet's ongoing balance when the caller has it;
    otherwise it is computed here."""
    if ongoing is None:
        ongoing = ongoing_balance(wallet)
    ongoing_credits, ongoing_usage_credits = ongoing.credits(wallet)
    return {
        "lago_id": str(wallet.pk),
        "lago_customer_id": str(wallet.customer_id),
        "external_customer_id": wallet.customer.external_id,
        "billing_entity_code": BILLING_ENTITY_CODE,
        "status": wallet.status,
        "currency": wallet.currency,
        "name": wallet.name,
        # Lago's wallet codes address several wallets of a customer; a customer has one active here.
        "code": None,
        "purchase_order_number": None,
        "priority": PRIORITY,
        "rate_amount": _decimal(wallet.rate_amount),
        "credits_balance": _decimal(wallet.credits_balance),
        "balance_cents": wallet.balance_cents,
        "credits_ongoing_balance": _decimal(ongoing_credits),
        "credits_ongoing_usage_balance": _decimal(ongoing_usage_credits),
        "ongoing_balance_cents": ongoing.balance_cents,
        "ongoing_usage_balance_cents": ongoing.usage_cents,
        "consumed_credits": _decimal(wallet.consumed_credits),
        "consumed_amount_cents": wallet.consumed_amount_cents,
        "created_at": _timestamp(wallet.created_at),
        "expiration_at": _timestamp(wallet.expiration_at),
        # Lists show the ongoing balance as of this sync; a single wallet's is computed when read.
        "last_balance_sync_at": _timestamp(wallet.last_balance_sync_at),
        "last_consumed_credit_at": _timestamp(wallet.last_consumed_credit_at),
        # Lago writes this one with Rails' default JSON: to the millisecond.
        "terminated_at": iso_ms(wallet.terminated_at.astimezone(UTC)) if wallet.terminated_at else None,
        "invoice_requires_successful_payment": False,
        "paid_top_up_min_amount_cents": None,
        "paid_top_up_max_amount_cents": None,
        "recurring_transaction_rules": [],
        "applies_to": {"fee_types": [], "billable_metric_codes": []},
        "applied_invoice_custom_sections": [],
        "payment_method": dict(PAYMENT_METHOD),
    }


def wallet_transaction_payload(transaction: WalletTransaction) -> dict[str, Any]:
    """Lago's wallet transaction object (V1::WalletTransactionSerializer), its one writer. Reads
    `transaction.wallet` for the currency of `amount`."""
    amount = from_minor_units(transaction.amount_cents, transaction.wallet.currency)
    return {
        "lago_id": str(transaction.pk),
        "lago_wallet_id": str(transaction.wallet_id),
        "lago_invoice_id": str(transaction.invoice_id) if transaction.invoice_id else None,
        "lago_credit_note_id": None,
        "lago_voided_invoice_id": str(transaction.voided_invoice_id) if transaction.voided_invoice_id else None,
        "billing_entity_code": BILLING_ENTITY_CODE,
        "status": transaction.status,
        "source": transaction.source,
        "transaction_status": transaction.transaction_status,
        "transaction_type": transaction.transaction_type,
        # What the credits are worth, in currency units.
        "amount": _decimal(amount),
        "credit_amount": _decimal(transaction.credit_amount),
        "remaining_amount_cents": None,
        "remaining_credit_amount": None,
        "priority": PRIORITY,
        "purchase_order_number": None,
        "settled_at": _timestamp(transaction.settled_at),
        "failed_at": _timestamp(transaction.failed_at),
        "created_at": _timestamp(transaction.created_at),
        "invoice_requires_successful_payment": False,
        "metadata": list(transaction.metadata or []),
        "name": transaction.name,
        "payment_method": dict(PAYMENT_METHOD),
        "applied_invoice_custom_sections": [],
    }


# The serializers below only document the two writers above in the schema; a test holds each to its
# writer's keys. (Comments rather than docstrings: drf-spectacular publishes a docstring.)


class AppliesToOutput(serializers.Serializer):
    fee_types = serializers.ListField(child=serializers.CharField())
    billable_metric_codes = serializers.ListField(child=serializers.CharField())


class PaymentMethodOutput(serializers.Serializer):
    payment_method_id = serializers.CharField(allow_null=True)
    payment_method_type = serializers.CharField()


class WalletOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_customer_id = serializers.UUIDField()
    external_customer_id = serializers.CharField()
    billing_entity_code = serializers.CharField()
    status = serializers.ChoiceField(choices=WalletStatus.values)
    currency = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)
    purchase_order_number = serializers.CharField(allow_null=True)
    priority = serializers.IntegerField()
    rate_amount = serializers.CharField()
    credits_balance = serializers.CharField()
    balance_cents = serializers.IntegerField()
    credits_ongoing_balance = serializers.CharField()
    credits_ongoing_usage_balance = serializers.CharField()
    ongoing_balance_cents = serializers.IntegerField()
    ongoing_usage_balance_cents = serializers.IntegerField()
    consumed_credits = serializers.CharField()
    consumed_amount_cents = serializers.IntegerField()
    created_at = serializers.CharField()
    expiration_at = serializers.CharField(allow_null=True)
    last_balance_sync_at = serializers.CharField(allow_null=True)
    last_consumed_credit_at = serializers.CharField(allow_null=True)
    terminated_at = serializers.CharField(allow_null=True)
    invoice_requires_successful_payment = serializers.BooleanField()
    paid_top_up_min_amount_cents = serializers.IntegerField(allow_null=True)
    paid_top_up_max_amount_cents = serializers.IntegerField(allow_null=True)
    recurring_transaction_rules = serializers.ListField(child=serializers.DictField())
    applies_to = AppliesToOutput()
    applied_invoice_custom_sections = serializers.ListField(child=serializers.DictField())
    payment_method = PaymentMethodOutput()


class TransactionMetadataOutput(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField()


class WalletTransactionOutput(serializers.Serializer):
    lago_id = serializers.UUIDField()
    lago_wallet_id = serializers.UUIDField()
    lago_invoice_id = serializers.UUIDField(allow_null=True)
    lago_credit_note_id = serializers.UUIDField(allow_null=True)
    lago_voided_invoice_id = serializers.UUIDField(allow_null=True)
    billing_entity_code = serializers.CharField()
    status = serializers.ChoiceField(choices=TransactionStatus.values)
    source = serializers.CharField()
    transaction_status = serializers.ChoiceField(choices=TransactionReason.values)
    transaction_type = serializers.ChoiceField(choices=TransactionType.values)
    amount = serializers.CharField()
    credit_amount = serializers.CharField()
    remaining_amount_cents = serializers.IntegerField(allow_null=True)
    remaining_credit_amount = serializers.CharField(allow_null=True)
    priority = serializers.IntegerField()
    purchase_order_number = serializers.CharField(allow_null=True)
    settled_at = serializers.CharField(allow_null=True)
    failed_at = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    invoice_requires_successful_payment = serializers.BooleanField()
    metadata = TransactionMetadataOutput(many=True)
    name = serializers.CharField(allow_null=True)
    payment_method = PaymentMethodOutput()
    applied_invoice_custom_sections = serializers.ListField(child=serializers.DictField())


WalletEnvelope = inline_serializer("WalletEnvelope", {"wallet": WalletOutput()})
WalletListEnvelope = inline_serializer(
    "WalletListEnvelope", {"wallets": WalletOutput(many=True), "meta": PaginationMeta()}
)
WalletBody = inline_serializer("WalletBody", {"wallet": WalletInput()})
WalletUpdateBody = inline_serializer("WalletUpdateBody", {"wallet": WalletUpdateInput()})
WalletTransactionEnvelope = inline_serializer(
    "WalletTransactionEnvelope", {"wallet_transaction": WalletTransactionOutput()}
)
WalletTransactionListEnvelope = inline_serializer(
    "WalletTransactionListEnvelope",
    {"wallet_transactions": WalletTransactionOutput(many=True), "meta": PaginationMeta()},
)
WalletTransactionsCreated = inline_serializer(
    "WalletTransactionsCreated", {"wallet_transactions": WalletTransactionOutput(many=True)}
)
WalletTransactionBody = inline_serializer("WalletTransactionBody", {"wallet_transaction": WalletTransactionInput()})


# Views ----------------------------------------------------------------------------------------


def _lago_id(value: Any) -> uuid.UUID | None:
    """A path or body id as a UUID; None when it cannot name a row (the selectors expect a UUID)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _wallet(organization, lago_id: Any, *, to_read: bool = False) -> Wallet:
    wallet_id = _lago_id(lago_id)
    if wallet_id is None:
        raise NotFound("wallet")
    return get_wallet(organization=organization, wallet_id=wallet_id, to_read=to_read)


def _wallet_response(wallet: Wallet) -> Response:
    return Response({"wallet": wallet_payload(wallet)})


def _filter(params, name: str, allowed: list[str]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in allowed:
        raise ValidationFailed({name: ["value_is_invalid"]})
    return value


class WalletsApi(LagoApiView):
    resource = "wallet"

    @extend_schema(
        operation_id="list_wallets",
        parameters=[
            *PAGINATION_PARAMETERS,
            EXTERNAL_CUSTOMER_ID_FILTER,
        ],
        responses={200: WalletListEnvelope, **errors(401, 422)},
    )
    def get(self, request):
        params = request.query_params
        wallets = list_wallets(organization=self.organization, external_customer_id=params.get("external_customer_id"))
        page = paginate(wallets, params)
        wallets = [wallet_payload(wallet, stored_ongoing_balance(wallet)) for wallet in page.items]
        return Response({"wallets": wallets, "meta": page.meta})

    @extend_schema(
        operation_id="create_wallet",
        description=(
            "Opens the customer's wallet (one active wallet per customer) and adds its initial credits at "
            "once: granted credits are settled, paid credits are pending until their credit invoice is paid."
        ),
        request=WalletBody,
        responses={200: WalletEnvelope, **errors(400, 401, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("wallet"), WalletInput)
        try:
            customer = get_customer_by_external_id(
                organization=self.organization, external_id=data.get("external_customer_id") or ""
            )
        except NotFound:
            raise ValidationFailed({"customer": ["customer_not_found"]}) from None
        top_up = TopUp.read(
            {
                "paid_credits": data.get("paid_credits"),
                "granted_credits": data.get("granted_credits"),
                "name": data.get("transaction_name"),
                "metadata": data.get("transaction_metadata"),
            }
        )
        wallet = create_wallet(
            customer=customer,
            rate_amount=data.get("rate_amount"),
            currency=data.get("currency"),
            name=data.get("name"),
            expiration_at=data.get("expiration_at"),
            top_up=top_up,
        )
        return _wallet_response(get_wallet(organization=self.organization, wallet_id=wallet.pk))


class WalletApi(LagoApiView):
    resource = "wallet"

    @extend_schema(operation_id="get_wallet", responses={200: WalletEnvelope, **errors(401, 404)})
    def get(self, request, lago_id: str):
        return _wallet_response(_wallet(self.organization, lago_id, to_read=True))

    @extend_schema(
        operation_id="update_wallet",
        request=WalletUpdateBody,
        responses={200: WalletEnvelope, **errors(400, 401, 404, 405, 422)},
    )
    def put(self, request, lago_id: str):
        wallet = _wallet(self.organization, lago_id)
        data = read_input(self.root_payload("wallet"), WalletUpdateInput)
        update_wallet(wallet=wallet, data=data)
        return _wallet_response(_wallet(self.organization, lago_id))

    @extend_schema(
        operation_id="terminate_wallet",
        description="Terminates the wallet and voids what is left of its credits. A terminated wallet stays as it is.",
        responses={200: WalletEnvelope, **errors(401, 404)},
    )
    def delete(self, request, lago_id: str):
        terminate_wallet(wallet=_wallet(self.organization, lago_id))
        return _wallet_response(_wallet(self.organization, lago_id))


class WalletTransactionsApi(LagoApiView):
    resource = "wallet_transaction"

    @extend_schema(
        operation_id="create_wallet_transactions",
        description=(
            "Paid, granted and voided credits in one request, all or nothing: up to three transactions. "
            "Paid credits stay pending until their credit invoice is paid."
        ),
        request=WalletTransactionBody,
        responses={200: WalletTransactionsCreated, **errors(400, 401, 422)},
    )
    def post(self, request):
        data = read_input(self.root_payload("wallet_transaction"), WalletTransactionInput)
        wallet_id = _lago_id(data.get("wallet_id"))
        try:
            wallet = get_wallet(organization=self.organization, wallet_id=wallet_id) if wallet_id else None
        except NotFound:
            wallet = None
        if wallet is None:
            raise ValidationFailed({"wallet_id": ["wallet_not_found"]})
        made = top_up_wallet(wallet=wallet, top_up=TopUp.read(data))
        return Response({"wallet_transactions": [wallet_transaction_payload(transaction) for transaction in made]})


class WalletTransactionListApi(LagoApiView):
    resource = "wallet"

    @extend_schema(
        operation_id="list_wallet_transactions",
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter("status", str, enum=TransactionStatus.values),
            OpenApiParameter("transaction_type", str, enum=TransactionType.values),
            OpenApiParameter("transaction_status", str, enum=TransactionReason.values),
        ],
        responses={200: WalletTransactionListEnvelope, **errors(401, 404, 422)},
    )
    def get(self, request, lago_id: str):
        params = request.query_params
        wallet = _wallet(self.organization, lago_id, to_read=True)
        transactions = list_wallet_transactions(
            wallet=wallet,
            status=_filter(params, "status", TransactionStatus.values),
            transaction_type=_filter(params, "transaction_type", TransactionType.values),
        )
        reason = _filter(params, "transaction_status", TransactionReason.values)
        if reason is not None:
            transactions = transactions.filter(transaction_status=reason)
        page = paginate(transactions, params)
        return Response(
            {
                "wallet_transactions": [wallet_transaction_payload(transaction) for transaction in page.items],
                "meta": page.meta,
            }
        )


class WalletTransactionApi(LagoApiView):
    resource = "wallet_transaction"

    @extend_schema(
        operation_id="get_wallet_transaction", responses={200: WalletTransactionEnvelope, **errors(401, 404)}
    )
    def get(self, request, lago_id: str):
        transaction_id = _lago_id(lago_id)
        if transaction_id is None:
            raise NotFound("wallet_transaction")
        transaction = get_wallet_transaction(organization=self.organization, transaction_id=transaction_id)
        return Response({"wallet_transaction": wallet_transaction_payload(transaction)})
