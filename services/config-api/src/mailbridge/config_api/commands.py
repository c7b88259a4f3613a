"""Publishing a command a request stands on: NATS unreachable answers 503 naming it, not 500."""

from mailbridge.common.events import Message
from mailbridge.common.messaging import publish
from mailbridge.config_api.deps import Messaging
from mailbridge.config_api.errors import ServiceUnavailable
from nats.errors import Error as NatsError

RETRY_AFTER_S = 10
# nats-py's own errors (timeout, no servers, connection closed) and the OS's while reconnecting.
UNREACHABLE = (NatsError, TimeoutError, ConnectionError)


async def publish_command(messaging: Messaging, command: Message, what: str) -> None:
    """Publish `command` and wait for JetStream's ack; `what` names it for a person."""
    try:
        await publish(messaging.broker, command, messaging.timeout_s)
    except UNREACHABLE as error:
        cause = str(error) or type(error).__name__
        raise ServiceUnavailable(
            f"NATS is unreachable ({cause}), so the {what} was not queued; "
            f"nothing was changed, try again in {RETRY_AFTER_S} s",
            RETRY_AFTER_S,
        ) from error
