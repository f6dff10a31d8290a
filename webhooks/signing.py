"""Lago's webhook signatures, over the exact bytes of the body:
- `hmac`: base64 of HMAC-SHA256 with the organization's HMAC key;
- `jwt`: an RS256 token of `{"data": <body>, "iss": <our API URL>}` signed with the organization's
  private key; receivers verify it with the public key of `GET /api/v1/webhooks/public_key`."""

import base64
import hashlib
import hmac

import jwt
from django.conf import settings

from webhooks.models import SignatureAlgorithm, WebhookKeys


def signature(*, body: str, algorithm: str, keys: WebhookKeys) -> str:
    if algorithm == SignatureAlgorithm.HMAC:
        digest = hmac.new(keys.hmac_key.encode(), body.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()
    return jwt.encode({"data": body, "iss": settings.WEBHOOKS_ISSUER}, keys.private_key_pem, algorithm="RS256")
