"""The embedded default behind `make run`: one command starts the whole system.

Order: the data folder (private: data_folder.py) and secret key → database migrations → the admin
API key (created once, printed once) → NATS (embedded unless MAILBRIDGE_NATS_URL is set; its URL is
left in var/nats-url for the `mailbridge` command while this runs) → its streams and durable
consumers (these and the migrations are setup.py's, the path `mailbridge setup` takes) → every
service as a child process, restarted with a backoff when it dies (supervisor.py). The services
get the data folder, the NATS URL and MAILBRIDGE_PUBLIC_URL, which is the API's own address unless
set (the base of the OAuth redirect URI). A listed service that is not installed stops the start,
named, before anything is created. Ctrl-C (or SIGTERM) stops the services, then NATS.
"""

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.logging import configure_logging
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.seal_keys import SEAL_KEY_FILE
from mailbridge.common.secrets import SECRET_KEY_FILE, load_or_create_key_file
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.launcher import nats_address
from mailbridge.launcher.data_folder import make_private
from mailbridge.launcher.setup import prepare_database, prepare_nats
from mailbridge.launcher.supervisor import Child, Supervisor

ADMIN_KEY_FILE = "admin-api-key"
# Each service is a module run with `python -m`; every one must be installed (this package depends
# on them all), so a missing one stops the start with its name rather than running without it.
SERVICE_MODULES = (
    "mailbridge.config_api",
    "mailbridge.fetcher",
    "mailbridge.sender",
    "mailbridge.oauth_broker",
)


class MissingServices(RuntimeError):
    """Listed services that cannot be run with `python -m` in this environment."""

    def __init__(self, modules: list[str]) -> None:
        self.modules = modules
        super().__init__(
            f"cannot start {', '.join(modules)}: not installed in this environment, or no "
            "`python -m` module (`make sync` installs every workspace member)"
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


def _runnable(module: str) -> bool:
    """Installed with a `__main__` (`python -m module` works)."""
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:  # the package itself is missing
        return False


def require_installed(modules: tuple[str, ...]) -> list[str]:
    """`modules` as a list, or MissingServices naming every one that cannot be run."""
    missing = [module for module in modules if not _runnable(module)]
    if missing:
        raise MissingServices(missing)
    return list(modules)


def _spawner(env: dict[str, str]) -> Callable[[str], Child]:
    def spawn(module: str) -> Child:
        return subprocess.Popen([sys.executable, "-m", module], env=env, start_new_session=True)  # noqa: S603

    return spawn


def run(settings: ConfigApiSettings, services: tuple[str, ...] = SERVICE_MODULES) -> int:
    configure_logging(settings.log_level, settings.log_format)
    modules = require_installed(services)  # before anything is created or migrated
    var_dir = settings.var_dir.resolve()
    make_private(var_dir)
    env = dict(os.environ, MAILBRIDGE_VAR_DIR=str(var_dir))
    if settings.secret_key is None:
        load_or_create_key_file(var_dir / SECRET_KEY_FILE)
    if settings.seal_key is None:  # G6: 32 random bytes, URL-safe base64, as seal_keys.py reads
        load_or_create_key_file(var_dir / SEAL_KEY_FILE)
    database_url = settings.effective_database_url(var_dir)
    prepare_database(database_url)
    new_key = ensure_admin_key(settings.model_copy(update={"var_dir": var_dir}), database_url)
    if new_key:
        print(f"Admin API key (shown once, kept in {var_dir / ADMIN_KEY_FILE}):\n{new_key}")
    nats = None if settings.nats_url else start_embedded_nats(var_dir / "jetstream")
    env["MAILBRIDGE_NATS_URL"] = settings.nats_url or (nats.url if nats else "")
    timeout_s = settings.nats_connect_timeout_s * 3
    try:
        asyncio.run(prepare_nats(env["MAILBRIDGE_NATS_URL"], settings.nats_stream_replicas, timeout_s))
    except BaseException:
        if nats is not None:
            nats.stop()
        raise
    nats_address.remember(var_dir, env["MAILBRIDGE_NATS_URL"])  # for `mailbridge oauth connect`
    # The OAuth redirect URI's base: the API's own address unless set (what browsers reach).
    env["MAILBRIDGE_PUBLIC_URL"] = settings.public_url or settings.local_base_url()
    print(f"Mailbridge: API on http://{settings.api_host}:{settings.api_port} (docs at /docs), "
          f"NATS at {env['MAILBRIDGE_NATS_URL']}, data in {var_dir}", flush=True)  # fmt: skip
    supervisor = Supervisor(modules, _spawner(env))
    supervisor.start_all()
    stopping = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping:
            supervisor.check()
            time.sleep(0.2)
    finally:
        supervisor.stop_all()
        nats_address.forget(var_dir)
        if nats is not None:
            nats.stop()
    return 0
