"""Verifies sessiond's webhooks, signed as Standard Webhooks 1.0 says.

sessiond sends three headers with every delivery:

* ``webhook-id``: the message id (the same on every retry: deduplicate on it);
* ``webhook-timestamp``: Unix seconds when it was signed;
* ``webhook-signature``: one or more ``v1,<base64 HMAC-SHA256>`` separated by
  spaces (several while a secret is being rotated), each over
  ``"<id>.<timestamp>.<body>"`` with the endpoint's secret ``whsec_<base64>``.

    from sessiond import verify_webhook, WebhookVerificationError
    try:
        event = verify_webhook(secret, request.headers, request.body)
    except WebhookVerificationError:
        return 400
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Mapping, Optional, Union

__all__ = ["verify_webhook", "sign_webhook", "WebhookVerificationError"]

_PREFIX = "whsec_"


class WebhookVerificationError(ValueError):
    """The delivery is not from sessiond (or too old/new): answer 400 and drop it."""


def _key(secret: str) -> bytes:
    if not isinstance(secret, str) or not secret.startswith(_PREFIX):
        raise ValueError("sessiond: a webhook secret looks like whsec_<base64>")
    try:
        return base64.b64decode(secret[len(_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("sessiond: the webhook secret is not valid base64 after whsec_") from e


def _header(headers, name: str) -> Optional[str]:
    # Works with dicts of any case, email.message.Message, Starlette/Flask/Django headers.
    get = getattr(headers, "get", None)
    if get is not None:
        for n in (name, name.title(), name.upper(), "HTTP_" + name.upper().replace("-", "_")):
            v = get(n)
            if v is not None:
                return v
    for k, v in getattr(headers, "items", lambda: [])():
        if isinstance(k, str) and k.lower() == name:
            return v
    return None


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: Union[bytes, str]) -> str:
    """The ``v1,<base64>`` signature of one delivery (for tests and tools)."""
    if isinstance(body, str):
        body = body.encode()
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(secret: str, headers: Mapping, body: Union[bytes, str], tolerance: int = 300,
                   now: Optional[float] = None):
    """Checks a delivery and returns its JSON payload.

    ``body`` must be the raw bytes as received (parse nothing before). Raises
    WebhookVerificationError if a header is missing, the timestamp is more than
    ``tolerance`` seconds from now (either way: replays), or no ``v1``
    signature matches (compared in constant time). ``headers`` may be any
    mapping (names in any case) or a WSGI environ."""
    key = _key(secret)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookVerificationError("webhook-timestamp is not a Unix time")
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or in the future")
    if isinstance(body, str):
        body = body.encode()
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ok = False
    for sig in signatures.split(" "):
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        try:
            got = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Check every signature: the time taken does not tell which one matched.
        ok |= hmac.compare_digest(got, expected)
    if not ok:
        raise WebhookVerificationError("no valid signature")
    try:
        return json.loads(body)
    except ValueError as e:
        raise WebhookVerificationError("the body is not JSON") from e
