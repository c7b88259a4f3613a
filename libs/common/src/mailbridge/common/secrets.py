"""Secrets at rest: authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) under a key ring.

`MAILBRIDGE_SECRET_KEY` holds one or more Fernet keys separated by commas, newest first. The
newest key encrypts; every key decrypts, so a new key can be put in front and the old rows
re-encrypted (`mailbridge secrets rotate`) while the system keeps running.
"""

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyError(ValueError):
    """The key ring is missing, malformed, or cannot decrypt a stored secret."""


class SecretBox:
    """Encrypts and decrypts secrets with the key ring; the only place keys are used."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("no secret key configured (MAILBRIDGE_SECRET_KEY)")
        try:
            self._ring = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except ValueError as error:
            raise SecretKeyError(f"MAILBRIDGE_SECRET_KEY is not a list of Fernet keys: {error}") from error
        self._newest = Fernet(keys[0].strip().encode())

    @classmethod
    def from_ring(cls, ring: str) -> "SecretBox":
        """Build from the comma-separated form used in the environment."""
        return cls([key for key in ring.split(",") if key.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._ring.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._ring.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise SecretKeyError("a stored secret cannot be decrypted with any key") from error

    def needs_rotation(self, token: str) -> bool:
        """True when `token` was not written with the newest key."""
        try:
            self._newest.decrypt(token.encode())
        except InvalidToken:
            return True
        return False

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the newest key."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except InvalidToken as error:
            raise SecretKeyError("a stored secret cannot be decrypted with any key") from error


def generate_key() -> str:
    return Fernet.generate_key().decode()


def load_or_create_key_file(path: Path) -> str:
    """The embedded default's key: read `path`, or write a new key there with mode 0600."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


SECRET_KEY_FILE = "secret.key"


def resolve_key_ring(configured: str | None, var_dir: Path) -> str:
    """MAILBRIDGE_SECRET_KEY if set, else the embedded default's key file (the runner makes it)."""
    if configured:
        return configured
    key_file = var_dir / SECRET_KEY_FILE
    if key_file.exists():
        return key_file.read_text().strip()
    raise SecretKeyError(f"no secret key: set MAILBRIDGE_SECRET_KEY or create {key_file} (`make run` does)")
