"""Lago's webhook signatures, over the exact bytes of the body:
- `hmac`: base64 of HMAC-SHA256 with the organization's HMAC key;
- `jwt`: an RS256 token of `{"data": <body>, "iss": <our API URL>}` signed with the organization's
  private key; receivers verify it with the public key of `GET /api/v1/webhooks/public_key`."""

import base64
import functools
import hashlib
import hmac

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from webhooks.models import SignatureAlgorithm, WebhookKeys


@functools.lru_cache(maxsize=256)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    """The key, parsed once per process: parsing a PEM checks the RSA key, about 30 ms of CPU, which
    was most of a delivery's time (benchmarks/webhooks_bench.py). Keyed by the PEM itself, so a new
    key is parsed anew."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


def signature(*, body: str, algorithm: str, keys: WebhookKeys) -> str:
    if algorithm == SignatureAlgorithm.HMAC:
        digest = hmac.new(keys.hmac_key.encode(), body.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()
    payload = {"data": body, "iss": settings.WEBHOOKS_ISSUER}
    return jwt.encode(payload, _private_key(keys.private_key_pem), algorithm="RS256")
