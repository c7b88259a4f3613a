"""API keys: `mbk_<key id>_<secret>`; only the secret's SHA-256 is stored.

The secret is 256 random bits, so a plain SHA-256 is a sound verifier (no password stretching is
needed for a value nobody chose), and the key id makes the lookup one indexed read.
"""

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from mailbridge.common.db.tables import ApiKey, User
from mailbridge.config_api.errors import NotFound, Unauthorized
from sqlalchemy.ext.asyncio import AsyncSession

PREFIX = "mbk"


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin, or one user of the business application."""

    role: Role
    user_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(token: str) -> tuple[uuid.UUID, str]:
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not secret:
        raise Unauthorized("malformed API key")
    try:
        return uuid.UUID(hex=key_id), secret
    except ValueError as error:
        raise Unauthorized("malformed API key") from error


async def create_api_key(session: AsyncSession, role: Role, user_id: uuid.UUID | None) -> str:
    """Store a new key and return its only plaintext copy."""
    if (role is Role.USER) != (user_id is not None):
        raise ValueError("a user key needs a user id, an admin key none")
    if user_id is not None and await session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} does not exist")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(role=role.value, user_id=user_id, secret_sha256=_digest(secret))
    session.add(key)
    await session.flush()
    return f"{PREFIX}_{key.id.hex}_{secret}"


def bearer_token(authorization: str | None) -> str:
    """The key in an `Authorization: Bearer <api key>` header."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <api key>")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected Authorization: Bearer <api key>")
    return token.strip()


async def authenticate(session: AsyncSession, token: str) -> Principal:
    key_id, secret = _parse(token)
    key = await session.get(ApiKey, key_id)
    if key is None or not hmac.compare_digest(key.secret_sha256, _digest(secret)):
        raise Unauthorized("unknown API key")
    return Principal(Role(key.role), key.user_id)
