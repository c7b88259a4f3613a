"""The fetcher's answers to the credentials test (T1, O5): the incoming check and the receive of
`common.credential_checks`, in the queue group FETCHER_QUEUE_GROUP (`common.credential_responder`)."""

from typing import Protocol

from mailbridge.common.credential_checks import (
    FETCHER_QUEUE_GROUP,
    INCOMING_CHECK_SUBJECT,
    RECEIVE_CHECK_SUBJECT,
    IncomingCheckRequest,
    ReceiveCheckRequest,
    Reply,
)
from mailbridge.common.credential_responder import Answering, CredentialResponder


class IncomingChecker(Protocol):
    async def check(self, request: IncomingCheckRequest) -> Reply: ...
    async def receive(self, request: ReceiveCheckRequest) -> Reply: ...


def credential_requests(checks: IncomingChecker) -> CredentialResponder:
    return CredentialResponder(
        FETCHER_QUEUE_GROUP,
        [
            Answering(INCOMING_CHECK_SUBJECT, IncomingCheckRequest, checks.check),
            Answering(RECEIVE_CHECK_SUBJECT, ReceiveCheckRequest, checks.receive),
        ],
    )
