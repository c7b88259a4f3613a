"""Push fetches (#18) published as the normal command: `FetchRequested(reason=push)` on the fetch
stream, under the `Nats-Msg-Id` the IDLE holder chose (JetStream drops a repeat within its
duplicate window), so a push goes through the same work queue, lease and retries as any fetch."""

import uuid

from faststream.nats import NatsBroker
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.common.messaging import publish

REQUESTED_BY = "imap-idle"


class BrokerFetchRequests:
    def __init__(self, broker: NatsBroker, timeout_s: float) -> None:
        self._broker, self._timeout_s = broker, timeout_s

    async def push(self, account_id: uuid.UUID, msg_id: str) -> None:
        command = FetchRequested(account_id=account_id, reason=FetchReason.PUSH, requested_by=REQUESTED_BY)
        await publish(self._broker, command, self._timeout_s, msg_id=msg_id)
