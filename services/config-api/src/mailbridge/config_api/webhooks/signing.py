"""Standard Webhooks signatures (#18): `webhook-id`, `webhook-timestamp`, `webhook-signature`.

A secret is `whsec_` and the base64 of 24 random bytes; the key is those bytes. A signature is
`v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")); during a rotation the header holds
one signature per valid secret, separated by spaces, as the convention allows.
"""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(keys: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt, signed with every secret in `keys`."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, msg_id, timestamp, body) for key in keys),
    }
