"""The `mailbridge` command: run the embedded default, set up a deployment, migrate, create API
keys, rotate keys, connect an OAuth account."""

import argparse
import asyncio
import sys
import uuid

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import downgrade, upgrade
from mailbridge.common.secrets import SecretBox, SecretKeyError, resolve_key_ring
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.errors import ApiError
from mailbridge.config_api.oauth_connect.redirect import redirect_uri
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.launcher import outbox_cli
from mailbridge.launcher.nats_address import nats_url
from mailbridge.launcher.oauth_cli import oauth_connect
from mailbridge.launcher.runner import MissingServices, run
from mailbridge.launcher.setup import prepare_database, prepare_nats
from nats.errors import Error as NatsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the whole system on the embedded default (make run)")
    commands.add_parser("serve", help="serve only the configuration API")
    commands.add_parser(
        "setup", help="migrate the database and create the JetStream streams and durables (once per deploy)"
    )
    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--to", default="head", help="upgrade to this revision (default: head)")
    migrate.add_argument("--down", metavar="REVISION", help="downgrade to REVISION ('base': empty)")
    api_key = commands.add_parser("api-key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = api_key.add_parser("create", help="create a key and print it once")
    who = create.add_mutually_exclusive_group(required=True)
    who.add_argument("--admin", action="store_true", help="a key that manages everything")
    who.add_argument("--user", type=uuid.UUID, metavar="ID", help="a key bound to one user")
    secrets = commands.add_parser("secrets", help="secrets at rest").add_subparsers(
        dest="action", required=True
    )
    secrets.add_parser("rotate", help="re-encrypt every secret with the newest key")
    outbox = commands.add_parser("outbox", help="sent mail (G6)").add_subparsers(dest="action", required=True)
    outbox.add_parser(
        "verify", help="check every sealed row, the chain and the checkpoints (exit 1 naming the first break)"
    )
    oauth = commands.add_parser("oauth", help="OAuth accounts (O4)").add_subparsers(
        dest="action", required=True
    )
    connect = oauth.add_parser("connect", help="connect a mail account to its OAuth provider")
    connect.add_argument("account_id", type=uuid.UUID, metavar="ACCOUNT_ID")
    connect.add_argument(
        "--device", action="store_true", help="sign in on another device with a code (headless set-ups)"
    )
    return parser


async def _create_key(settings: ConfigApiSettings, user: uuid.UUID | None) -> str:
    engine = create_engine(settings.effective_database_url(settings.var_dir))
    try:
        async with create_session_factory(engine)() as session:
            role = Role.ADMIN if user is None else Role.USER
            key = await create_api_key(session, role, user)
            await session.commit()
            return key
    finally:
        await engine.dispose()


async def _rotate(settings: ConfigApiSettings) -> int:
    from mailbridge.common.db.rotation import rotate_secrets

    configured = settings.secret_key.get_secret_value() if settings.secret_key else None
    box = SecretBox.from_ring(resolve_key_ring(configured, settings.var_dir))
    engine = create_engine(settings.effective_database_url(settings.var_dir))
    try:
        return await rotate_secrets(create_session_factory(engine), box)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ApiError, SecretKeyError, ValueError, MissingServices, NatsError, OSError, TimeoutError) as error:
        print(f"mailbridge {args.command}: {error}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    settings = ConfigApiSettings()
    url = settings.effective_database_url(settings.var_dir)
    if args.command == "run":
        return run(settings)
    if args.command == "serve":
        from mailbridge.config_api.__main__ import serve

        serve()
    elif args.command == "setup":
        return _setup(settings, url)
    elif args.command == "migrate":
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        downgrade(url, args.down) if args.down else upgrade(url, args.to)
    elif args.command == "api-key":
        print(asyncio.run(_create_key(settings, args.user)))
    elif args.command == "secrets":
        print(f"re-encrypted {asyncio.run(_rotate(settings))} secrets with the newest key")
    elif args.command == "oauth":
        return _oauth_connect(settings, args.account_id, args.device)
    elif args.command == "outbox":
        return asyncio.run(outbox_cli.verify(settings, sys.stdout))
    return 0


def _setup(settings: ConfigApiSettings, database_url: str) -> int:
    """What `mailbridge run` does before it starts the services (launcher/setup.py), for a
    deployment whose services run elsewhere: MAILBRIDGE_NATS_URL is required."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    prepare_database(database_url)
    prepared = asyncio.run(
        prepare_nats(
            settings.require_nats_url(), settings.nats_stream_replicas, settings.nats_connect_timeout_s * 3
        )
    )
    durables = ", ".join(f"{stream}/{durable}" for stream, durable in prepared.durables)
    buckets = ", ".join(prepared.buckets)
    print(f"database migrated; streams {', '.join(prepared.streams)}; durables {durables}; buckets {buckets}")
    return 0


def _oauth_connect(settings: ConfigApiSettings, account_id: uuid.UUID, device: bool) -> int:
    """NATS as the services find it (MAILBRIDGE_NATS_URL, else the running `mailbridge run`'s);
    the redirect URI as the configuration API shows it."""
    url = nats_url(settings.nats_url, settings.var_dir)
    callback = redirect_uri(settings.public_url or settings.local_base_url())
    flow = oauth_connect(
        url, account_id, device, callback, settings.oauth_broker_timeout_s, sys.stdout, sys.stderr
    )
    return asyncio.run(flow)


if __name__ == "__main__":
    sys.exit(main())
