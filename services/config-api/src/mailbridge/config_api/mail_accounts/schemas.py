"""Mail account request and response bodies; field rules carry their requirement ids."""

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from mailbridge.config_api.credential_tests.schemas import ReportOut
from mailbridge.config_api.fields import AddressText as Address
from mailbridge.config_api.fields import FolderName, NoControlCharacters, address
from mailbridge.config_api.health.schemas import AccountHealth
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of
from pydantic import BaseModel, Field, StringConstraints

# A display name goes into a From header: no line breaks or other control characters.
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"),
]


class OAuthStatus(StrEnum):
    NOT_REQUIRED = "not_required"
    DISCONNECTED = "disconnected"
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"


class Owner(BaseModel):
    """A1: an account belongs to one user or one group."""

    type: Literal["user", "group"]
    id: uuid.UUID


class MailAccountIn(RequestModel):
    model_config = example(
        alias="Anna Berger (Sales)",
        owner={"type": "user", "id": "0196a1c2-8e4f-7c33-9e12-6b8d3f0a1c24"},
        server_id="0196a1c2-9f50-7d44-af23-7c9e4a1b2d35",
        login="anna.berger@example.com",
        password="the mailbox password",  # noqa: S106 (an example)
        address="anna.berger@example.com",
        reply_to="sales@example.com",
    )
    owner: Owner
    server_id: uuid.UUID
    login: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320), NoControlCharacters
    ]
    password: Annotated[
        Annotated[str, NoControlCharacters] | None, Field(max_length=1000, description="write-only (A3)")
    ] = None
    business_unit_id: uuid.UUID | None = None
    address: Annotated[Address, address("A5")]
    reply_to: Annotated[Address, address("A6")] | None = None
    alias: DisplayName | None = None
    can_send: bool = True
    send_bcc: Annotated[Address, address("A9")] | None = None
    can_receive: bool = True
    inbox_folder: FolderName | None = None
    trash_folder: FolderName | None = None
    spam_folder: FolderName | None = None
    sync_folders: Annotated[
        list[FolderName], Field(max_length=100, description="further IMAP folders to synchronise")
    ] = []
    can_set_out_of_office: bool = False


class MailAccountOut(ResourceOut):
    owner: Owner
    server_id: uuid.UUID
    login: str
    has_password: bool
    business_unit_id: uuid.UUID | None
    address: str
    reply_to: str | None
    alias: str | None
    can_send: bool
    send_bcc: str | None
    can_receive: bool
    inbox_folder: str | None
    trash_folder: str | None
    spam_folder: str | None
    sync_folders: list[str]
    can_set_out_of_office: bool
    oauth_status: OAuthStatus
    oauth_reason: str | None = Field(
        description="why the account needs reconnecting, as the provider or broker said (O4)"
    )
    last_test: ReportOut | None = Field(
        default=None, description="the report of the last credentials test (T1, O5); None: never tested"
    )
    health: AccountHealth = Field(
        description="the last fetch and send results and the state they make (ok, failing, needs_reconnect)"
    )


MailAccountPatch = patch_of(MailAccountIn)
