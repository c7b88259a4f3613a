"""Mail server request and response bodies; field rules carry their requirement ids."""

import uuid
from typing import Annotated

from mailbridge.common.endpoints import (
    IncomingProtocol,
    SmtpEncryption,
    TlsMode,
    TransportSecurity,
)
from mailbridge.config_api.fields import FolderName, Name, NoControlCharacters, host_port, in_range
from mailbridge.config_api.mail_servers.limits import ProviderLimitsIn, ProviderLimitsOut
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of
from pydantic import Field


class MailServerIn(RequestModel, ProviderLimitsIn):
    model_config = example(
        name="Company mail", smtp_host="smtp.example.com:587", smtp_encryption="auto",
        incoming_protocol="imap", incoming_host="imap.example.com:993", incoming_tls=True,
        trash_folder="Trash", spam_folder="Junk", sent_folder="Sent",
    )  # fmt: skip
    name: Name
    oauth_provider_id: uuid.UUID | None = None
    smtp_host: Annotated[str, Field(max_length=300), host_port("S3"), NoControlCharacters]
    smtp_encryption: SmtpEncryption = SmtpEncryption.AUTO
    smtp_auth: bool = True
    allow_plaintext_auth: bool = Field(
        default=False, description="S4: AUTH over smtp_encryption none to a host off loopback (#17)"
    )
    send_via_server: bool = False
    incoming_protocol: IncomingProtocol
    incoming_host: Annotated[str, Field(max_length=300), host_port("S8"), NoControlCharacters]
    incoming_tls: bool = True
    incoming_tls_mode: TlsMode = TlsMode.AUTO
    trash_folder: FolderName | None = None
    spam_folder: FolderName | None = None
    sent_folder: FolderName | None = None
    delete_after_fetch: bool = False
    delete_after_days: Annotated[int, in_range("S12", 1, 36_500)] | None = None
    push: bool = Field(
        default=True,
        description="#18: IMAP accounts keep an IDLE connection and are fetched within seconds of new "
        "mail (where the server offers IDLE); false: polled on the schedule only",
    )


class MailServerOut(ResourceOut, ProviderLimitsOut):
    name: str
    oauth_provider_id: uuid.UUID | None
    smtp_host: str
    smtp_port: int = Field(description="effective port (S3)")
    smtp_encryption: SmtpEncryption
    smtp_auth: bool
    allow_plaintext_auth: bool
    send_via_server: bool
    incoming_protocol: IncomingProtocol
    incoming_host: str
    incoming_port: int = Field(description="effective port (S8)")
    incoming_tls: bool
    incoming_tls_mode: TlsMode
    incoming_security: TransportSecurity = Field(description="effective transport security (S9)")
    trash_folder: str | None
    spam_folder: str | None
    sent_folder: str | None
    delete_after_fetch: bool
    delete_after_days: int | None
    push: bool = Field(description="#18: IMAP IDLE push (false: polled on the schedule only)")


MailServerPatch = patch_of(MailServerIn)
