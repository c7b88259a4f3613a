"""Validated field types shared by the request schemas; custom error types name the rule."""

import unicodedata
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from mailbridge.common.endpoints import EndpointError, parse_host_port
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

NUL = "\x00"
NUL_RULE = "nul_character"
NUL_MESSAGE = "must not contain NUL (\\u0000)"


def refuse_nul(value: Any) -> Any:
    """Any string anywhere in `value` (lists, objects) without NUL: PostgreSQL cannot store it in
    text, and no mail protocol carries it. Applied to every request body field (RequestModel)."""
    if isinstance(value, str):
        if NUL in value:
            raise PydanticCustomError(NUL_RULE, NUL_MESSAGE)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)
    return value


def _refuse_control_characters(value: Any) -> Any:
    """Checked before stripping, so that a trailing CR/LF is refused rather than trimmed away."""
    if isinstance(value, str):
        bad = next((char for char in value if unicodedata.category(char) == "Cc"), None)
        if bad is not None:
            raise PydanticCustomError(
                "control_character",
                "must not contain control characters (here U+{code}): the value goes into "
                "mail protocol commands, where CR/LF would start a new command",
                {"code": f"{ord(bad):04X}"},
            )
    return value


# Last in an Annotated list, so that it runs before the constraints before it (e.g. stripping).
NoControlCharacters = BeforeValidator(_refuse_control_characters)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
FolderName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NoControlCharacters
]


def address(rule: str) -> AfterValidator:
    """An e-mail address; errors carry `rule` (A5 address, A6 reply-to, A9 BCC…). The special-use
    `.test` domain is accepted (RFC 6761): it is what test installations use."""

    def check(value: str) -> str:
        try:
            return validate_email(value, check_deliverability=False, test_environment=True).normalized
        except EmailNotValidError as error:
            raise PydanticCustomError(
                rule, "not a valid e-mail address: {reason}", {"reason": str(error)}
            ) from error

    return AfterValidator(check)


def host_port(rule: str) -> AfterValidator:
    """`host[:port]` with IPv6 in brackets; errors carry `rule` (S3, S8)."""

    def check(value: str) -> str:
        try:
            return str(parse_host_port(value))
        except EndpointError as error:
            raise PydanticCustomError(rule, "{reason}", {"reason": str(error)}) from error

    return AfterValidator(check)


AddressText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320),
    Field(json_schema_extra={"format": "email"}),
]
Email = Annotated[AddressText, address("email")]


def in_range(rule: str, low: int, high: int) -> AfterValidator:
    """A whole number from `low` to `high`; errors carry `rule` (S12 days, G2 minutes)."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise PydanticCustomError(rule, "must be from {low} to {high}", {"low": low, "high": high})
        return value

    return AfterValidator(check)
