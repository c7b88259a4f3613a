"""The sender's answer to the credentials test (T1, O5): the outgoing check and test send of
`common.credential_checks`, in the queue group SENDER_QUEUE_GROUP (`common.credential_responder`).
Only the default pool's senders answer it (S6: the egress pool takes only its own commands)."""

from typing import Protocol

from mailbridge.common.credential_checks import (
    OUTGOING_CHECK_SUBJECT,
    SENDER_QUEUE_GROUP,
    OutgoingCheckRequest,
    Reply,
)
from mailbridge.common.credential_responder import Answering, CredentialResponder


class OutgoingChecker(Protocol):
    async def check(self, request: OutgoingCheckRequest) -> Reply: ...


def credential_requests(checks: OutgoingChecker) -> CredentialResponder:
    return CredentialResponder(
        SENDER_QUEUE_GROUP, [Answering(OUTGOING_CHECK_SUBJECT, OutgoingCheckRequest, checks.check)]
    )
