"""The embedded default behind `make run`: one command starts the whole system.

Order: data folder and secret key → database migrations → the admin API key (created once,
printed once) → NATS (embedded unless MAILBRIDGE_NATS_URL is set) → every installed service as a
child process. Ctrl-C (or SIGTERM) stops the services, then NATS; a service that dies stops all.
"""

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade
from mailbridge.common.nats_embedded import EmbeddedNats, start_embedded_nats
from mailbridge.common.secrets import SECRET_KEY_FILE, load_or_create_key_file
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.settings import ConfigApiSettings

ADMIN_KEY_FILE = "admin-api-key"
# Each service is a module run with `python -m`; the ones not installed (or runnable) are skipped.
SERVICE_MODULES = (
    "mailbridge.config_api",
    "mailbridge.fetcher",
    "mailbridge.sender",
    "mailbridge.oauth_broker",
)


def ensure_admin_key(settings: ConfigApiSettings, database_url: str) -> str | None:
    """Create the first admin key into var/admin-api-key (0600); return it only when new."""
    path = settings.var_dir / ADMIN_KEY_FILE
    if path.exists():
        return None

    async def create() -> str:
        engine = create_engine(database_url)
        try:
            async with create_session_factory(engine)() as session:
                key = await create_api_key(session, Role.ADMIN, None)
                await session.commit()
                return key
        finally:
            await engine.dispose()

    key = asyncio.run(create())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _start_services(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    children = []
    for module in SERVICE_MODULES:
        if importlib.util.find_spec(module) is None or importlib.util.find_spec(f"{module}.__main__") is None:
            continue  # not installed, or not runnable yet
        children.append(
            subprocess.Popen([sys.executable, "-m", module], env=env, start_new_session=True)  # noqa: S603
        )
    return children


def _stop(children: list[subprocess.Popen[bytes]], nats: EmbeddedNats | None) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    if nats is not None:
        nats.stop()


def run(settings: ConfigApiSettings) -> int:
    var_dir = settings.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MAILBRIDGE_VAR_DIR=str(var_dir))
    if settings.secret_key is None:
        load_or_create_key_file(var_dir / SECRET_KEY_FILE)
    database_url = settings.effective_database_url(var_dir)
    upgrade(database_url)
    new_key = ensure_admin_key(settings.model_copy(update={"var_dir": var_dir}), database_url)
    if new_key:
        print(f"Admin API key (shown once, kept in {var_dir / ADMIN_KEY_FILE}):\n{new_key}")
    nats = None if settings.nats_url else start_embedded_nats(var_dir / "jetstream")
    env["MAILBRIDGE_NATS_URL"] = settings.nats_url or (nats.url if nats else "")
    print(f"Mailbridge: API on http://{settings.api_host}:{settings.api_port} (docs at /docs), "
          f"NATS at {env['MAILBRIDGE_NATS_URL']}, data in {var_dir}", flush=True)  # fmt: skip
    children = _start_services(env)
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    try:
        while not stopping:
            dead = [child for child in children if child.poll() is not None]
            if dead:
                print(f"a service exited with {dead[0].returncode}; stopping", file=sys.stderr)
                exit_code = 1
                break
            time.sleep(0.2)
    finally:
        _stop(children, nats)
    return exit_code
