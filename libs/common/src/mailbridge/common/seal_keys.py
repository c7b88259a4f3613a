"""The G6 seal keys: HMAC-SHA256 keys the database never holds, under a ring like the secret key's.

`MAILBRIDGE_SEAL_KEY` holds one or more keys separated by commas, newest first (each 32 random
bytes, URL-safe base64: `generate_seal_key`). The newest key seals; every key verifies. Each seal
and each checkpoint records the id of the key that made it (`key_id`: a digest of the key, which
tells nothing about it), so a key put in front (rotation) leaves every older seal verifiable as
long as the older key stays in the ring. Nothing is re-sealed on rotation: sealed rows never
change. In the embedded default the ring lives in the data folder (`seal.key`, like
`secret.key`).
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from pathlib import Path

SEAL_KEY_FILE = "seal.key"
KEY_BYTES = 32
_KEY_ID_LABEL = b"mailbridge seal key id\0"


class SealKeyError(ValueError):
    """The seal key ring is missing or malformed, or a seal names a key it does not hold."""


class SealKeys:
    """The ring: `mac` with the newest key, `verify` with whichever key a seal names."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SealKeyError("no seal key configured (MAILBRIDGE_SEAL_KEY)")
        decoded = [_decode(key.strip()) for key in keys]
        self._keys = {key_id_of(key): key for key in decoded}
        self.newest_id = key_id_of(decoded[0])

    @classmethod
    def from_ring(cls, ring: str) -> "SealKeys":
        """Build from the comma-separated form used in the environment."""
        return cls([key for key in ring.split(",") if key.strip()])

    def __repr__(self) -> str:
        return f"SealKeys(ids={sorted(self._keys)})"  # never the keys

    def holds(self, key_id: str) -> bool:
        return key_id in self._keys

    def mac(self, data: bytes, key_id: str | None = None) -> str:
        """HMAC-SHA256 of `data` (hex) under the key `key_id`, by default the newest."""
        key = self._keys.get(key_id or self.newest_id)
        if key is None:
            raise SealKeyError(f"seal key {key_id} is not in MAILBRIDGE_SEAL_KEY")
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, key_id: str, mac: str) -> bool:
        """True when `mac` is `data`'s HMAC under `key_id` (False for a key the ring lacks)."""
        if key_id not in self._keys:
            return False
        return hmac.compare_digest(self.mac(data, key_id), mac)


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:16]


def generate_seal_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _decode(key: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key.encode())
    except (binascii.Error, ValueError) as error:
        raise SealKeyError(f"MAILBRIDGE_SEAL_KEY holds a key that is not URL-safe base64: {error}") from None
    if len(raw) < KEY_BYTES:
        raise SealKeyError(
            f"MAILBRIDGE_SEAL_KEY holds a key of {len(raw)} bytes; at least {KEY_BYTES} needed"
        )
    return raw


def resolve_seal_keys(configured: str | None, var_dir: Path) -> SealKeys:
    """MAILBRIDGE_SEAL_KEY if set, else the embedded default's key file (the runner makes it)."""
    found = seal_keys_if_any(configured, var_dir)
    if found is None:
        raise SealKeyError(
            f"no seal key: set MAILBRIDGE_SEAL_KEY or create {var_dir / SEAL_KEY_FILE} (`make run` does)"
        )
    return found


def seal_keys_if_any(configured: str | None, var_dir: Path) -> SealKeys | None:
    """As `resolve_seal_keys`, None where neither is there (a service that only verifies)."""
    if configured:
        return SealKeys.from_ring(configured)
    key_file = var_dir / SEAL_KEY_FILE
    return SealKeys.from_ring(key_file.read_text().strip()) if key_file.exists() else None
