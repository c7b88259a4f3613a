"""`mailbridge oauth connect [--device] ACCOUNT_ID` (O4, headless set-ups), run as a person runs it,
against a stand-in broker on a real NATS: the provider's message, polls every interval until
connected (exit 0), a refusal or expiry (exit 1 with the reason); without --device the
authorization URL for the configured redirect URI."""

import asyncio
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from broker_double import Script, broker_double
from mailbridge.common.oauth_requests import (
    CONNECT_REQUEST_SUBJECT,
    DEVICE_POLL_SUBJECT,
    DEVICE_START_SUBJECT,
    ConnectFinished,
    ConnectRefused,
    ConnectStarted,
    DeviceFlowStarted,
    DevicePending,
    FlowRefusal,
)
from mailbridge.launcher.nats_address import remember

ACCOUNT = uuid.UUID("01a21a80-4577-7c31-aec5-77c42ab161e2")
MESSAGE = "To sign in, use a web browser to open the page https://id.example/devicelogin and enter the code ABCD-1234"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


async def mailbridge(var_dir: Path, *args: str, **env: str) -> Ran:
    """The command as a child process; the test's event loop keeps answering for the double."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    clean |= {"MAILBRIDGE_VAR_DIR": str(var_dir), "MAILBRIDGE_OAUTH_BROKER_TIMEOUT_S": "5", **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mailbridge.launcher.cli", *args, env=clean,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def device_started(expires_in: timedelta = timedelta(minutes=15)) -> DeviceFlowStarted:
    return DeviceFlowStarted(
        account_id=ACCOUNT, flow_id="flow-7", user_code="ABCD-1234",
        verification_uri="https://id.example/devicelogin", message=MESSAGE,
        expires_at=datetime.now(UTC) + expires_in, interval_s=0,
    )  # fmt: skip


async def test_device_flow_polls_until_connected(nats_url: str, tmp_path: Path) -> None:
    pending = DevicePending(flow_id="flow-7")
    finished = ConnectFinished(account_id=ACCOUNT, login="ann@contoso.example")
    script: Script = {
        DEVICE_START_SUBJECT: [device_started()],
        DEVICE_POLL_SUBJECT: [pending, pending, finished],
    }
    async with broker_double(nats_url, script) as broker:
        ran = await mailbridge(
            tmp_path, "oauth", "connect", "--device", str(ACCOUNT), MAILBRIDGE_NATS_URL=nats_url
        )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [MESSAGE, "connected as ann@contoso.example"]
    assert broker.received[DEVICE_START_SUBJECT] == [{"account_id": str(ACCOUNT)}]
    assert broker.received[DEVICE_POLL_SUBJECT] == [{"flow_id": "flow-7"}] * 3


async def test_device_flow_refused_while_polling_exits_1_with_the_reason(
    nats_url: str, tmp_path: Path
) -> None:
    refused = ConnectRefused(
        account_id=ACCOUNT, error=FlowRefusal.WRONG_MAILBOX, detail="signed in as bob@contoso.example"
    )
    script: Script = {
        DEVICE_START_SUBJECT: [device_started()],
        DEVICE_POLL_SUBJECT: [DevicePending(flow_id="flow-7"), refused],
    }
    async with broker_double(nats_url, script):
        ran = await mailbridge(
            tmp_path, "oauth", "connect", "--device", str(ACCOUNT), MAILBRIDGE_NATS_URL=nats_url
        )
    assert ran.returncode == 1
    assert "not connected (wrong_mailbox): signed in as bob@contoso.example" in ran.stderr
    assert "connected as" not in ran.stdout


async def test_device_flow_refused_at_start_or_expired_exits_1(nats_url: str, tmp_path: Path) -> None:
    not_oauth = ConnectRefused(
        account_id=ACCOUNT, error=FlowRefusal.NOT_OAUTH, detail="its server has no OAuth provider"
    )
    async with broker_double(nats_url, {DEVICE_START_SUBJECT: [not_oauth]}):
        ran = await mailbridge(
            tmp_path, "oauth", "connect", "--device", str(ACCOUNT), MAILBRIDGE_NATS_URL=nats_url
        )
    assert (ran.returncode, ran.stderr.strip()) == (
        1,
        "not connected (not_oauth): its server has no OAuth provider",
    )

    script: Script = {
        DEVICE_START_SUBJECT: [device_started(timedelta(seconds=-1))],
        DEVICE_POLL_SUBJECT: [DevicePending(flow_id="flow-7")],
    }
    async with broker_double(nats_url, script) as broker:
        ran = await mailbridge(
            tmp_path, "oauth", "connect", "--device", str(ACCOUNT), MAILBRIDGE_NATS_URL=nats_url
        )
    assert ran.returncode == 1
    assert "the code expired" in ran.stderr
    assert broker.received[DEVICE_POLL_SUBJECT] == []


async def test_no_broker_exits_1_naming_it(nats_url: str, tmp_path: Path) -> None:
    ran = await mailbridge(
        tmp_path, "oauth", "connect", "--device", str(ACCOUNT), MAILBRIDGE_NATS_URL=nats_url
    )
    assert ran.returncode == 1
    assert "not connected (unavailable): no OAuth broker is running" in ran.stderr
    assert "Traceback" not in ran.stderr


async def test_without_device_prints_the_authorization_url_for_the_public_redirect_uri(
    nats_url: str, tmp_path: Path
) -> None:
    url = "https://id.example/organizations/oauth2/v2.0/authorize?state=s1"
    started = ConnectStarted(
        account_id=ACCOUNT, authorization_url=url, expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    async with broker_double(nats_url, {CONNECT_REQUEST_SUBJECT: [started]}) as broker:
        ran = await mailbridge(
            tmp_path, "oauth", "connect", str(ACCOUNT),
            MAILBRIDGE_NATS_URL=nats_url, MAILBRIDGE_PUBLIC_URL="https://mail.example.com",
        )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[-1] == url
    assert broker.received[CONNECT_REQUEST_SUBJECT] == [
        {"account_id": str(ACCOUNT), "redirect_uri": "https://mail.example.com/oauth/callback"}
    ]


async def test_nats_is_found_where_mailbridge_run_left_its_url(nats_url: str, tmp_path: Path) -> None:
    missing = await mailbridge(tmp_path, "oauth", "connect", "--device", str(ACCOUNT))
    assert missing.returncode == 2
    assert "MAILBRIDGE_NATS_URL is not set and no `mailbridge run` is running" in missing.stderr

    remember(tmp_path, nats_url)
    finished = ConnectFinished(account_id=ACCOUNT, login="ann@contoso.example")
    async with broker_double(
        nats_url, {DEVICE_START_SUBJECT: [device_started()], DEVICE_POLL_SUBJECT: [finished]}
    ):
        ran = await mailbridge(tmp_path, "oauth", "connect", "--device", str(ACCOUNT))
    assert ran.returncode == 0, ran.stderr
    assert "connected as ann@contoso.example" in ran.stdout


async def test_ctrl_c_while_waiting_stops_with_130_and_no_traceback(nats_url: str, tmp_path: Path) -> None:
    started = device_started().model_copy(update={"interval_s": 1})
    script: Script = {DEVICE_START_SUBJECT: [started], DEVICE_POLL_SUBJECT: [DevicePending(flow_id="flow-7")]}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    env |= {"MAILBRIDGE_VAR_DIR": str(tmp_path), "MAILBRIDGE_NATS_URL": nats_url}
    async with broker_double(nats_url, script):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mailbridge.launcher.cli", "oauth", "connect", "--device", str(ACCOUNT),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        assert (await process.stdout.readline()).decode().strip() == MESSAGE
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 130, err.decode()
    assert "the account is not connected" in err.decode()
    assert "Traceback" not in err.decode()
