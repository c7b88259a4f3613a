"""`mailbridge oauth connect [--device] ACCOUNT_ID`: connect an account from the command line (O4).

With --device (headless set-ups): the broker starts the provider's device-code flow; the person
reads the provider's message (a code and where to enter it) on another device, and this command
asks the broker every `interval_s` until the sign-in is finished (exit 0, "connected as <login>"),
refused or expired (exit 1 with the reason). Without it, the broker's authorization URL for the
browser flow is printed; the provider then redirects to the configuration API's callback.
Each ask waits MAILBRIDGE_OAUTH_BROKER_TIMEOUT_S; no answer is a reason too (exit 1).
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TextIO

import nats
from mailbridge.common.oauth_requests import (
    CONNECT_REPLY,
    CONNECT_REQUEST_SUBJECT,
    DEVICE_POLL_REPLY,
    DEVICE_POLL_SUBJECT,
    DEVICE_START_REPLY,
    DEVICE_START_SUBJECT,
    BrokerUnavailable,
    ConnectFinished,
    ConnectRefused,
    ConnectRequest,
    DevicePending,
    DevicePollRequest,
    DeviceStartRequest,
    ask,
)
from nats.aio.client import Client
from nats.errors import Error as NatsError

Sleep = Callable[[float], Awaitable[None]]
INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C


def _refused(refused: ConnectRefused, err: TextIO) -> int:
    print(f"not connected ({refused.error.value}): {refused.detail}", file=err)
    return 1


async def connect_device(
    client: Client, account_id: uuid.UUID, timeout_s: float, out: TextIO, err: TextIO,
    sleep: Sleep = asyncio.sleep,
) -> int:  # fmt: skip
    started = await ask(
        client, DEVICE_START_SUBJECT, DeviceStartRequest(account_id=account_id), DEVICE_START_REPLY, timeout_s
    )
    if isinstance(started, ConnectRefused):
        return _refused(started, err)
    print(started.message, file=out)
    if started.user_code not in started.message:  # some providers' messages name neither
        print(f"Code {started.user_code} at {started.verification_uri}", file=out)
    out.flush()
    poll = DevicePollRequest(flow_id=started.flow_id)
    expires_at = started.expires_at if started.expires_at.tzinfo else started.expires_at.replace(tzinfo=UTC)
    while True:
        if datetime.now(UTC) >= expires_at:
            print("not connected (flow_expired): the code expired; run the command again", file=err)
            return 1
        await sleep(started.interval_s)
        reply = await ask(client, DEVICE_POLL_SUBJECT, poll, DEVICE_POLL_REPLY, timeout_s)
        if isinstance(reply, ConnectFinished):
            print(f"connected as {reply.login}", file=out)
            return 0
        if isinstance(reply, ConnectRefused):
            return _refused(reply, err)
        assert isinstance(reply, DevicePending)


async def connect_browser(
    client: Client, account_id: uuid.UUID, redirect_uri: str, timeout_s: float, out: TextIO, err: TextIO
) -> int:
    request = ConnectRequest(account_id=account_id, redirect_uri=redirect_uri)
    started = await ask(client, CONNECT_REQUEST_SUBJECT, request, CONNECT_REPLY, timeout_s)
    if isinstance(started, ConnectRefused):
        return _refused(started, err)
    until = started.expires_at.isoformat(timespec="seconds")
    print(f"Open this URL in a browser and sign in as the account's mailbox (until {until}):", file=out)
    print(started.authorization_url, file=out)
    return 0


async def oauth_connect(
    url: str, account_id: uuid.UUID, device: bool, redirect_uri: str, timeout_s: float,
    out: TextIO, err: TextIO,
) -> int:  # fmt: skip
    """Connect to NATS at `url` and run one flow; every failure is a line on `err` and exit 1,
    Ctrl-C while waiting a line and 130. Run it as the main task of `asyncio.run`."""
    try:
        client = await nats.connect(url, connect_timeout=timeout_s, max_reconnect_attempts=0)
    except (NatsError, OSError) as error:
        print(f"cannot reach NATS at {url}: {str(error) or type(error).__name__}", file=err)
        return 1
    try:
        if device:
            return await connect_device(client, account_id, timeout_s, out, err)
        return await connect_browser(client, account_id, redirect_uri, timeout_s, out, err)
    except BrokerUnavailable as error:
        print(f"not connected (unavailable): {error}", file=err)
        return 1
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this, its main task; no traceback
        print("stopped before the sign-in finished: the account is not connected", file=err)
        return INTERRUPTED
    finally:
        await client.close()
