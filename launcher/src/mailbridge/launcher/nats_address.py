"""Where the `mailbridge` command finds the NATS that `mailbridge run` started.

The embedded NATS listens on a free port chosen at start, so the runner leaves its URL in the
private data folder (var/nats-url, 0600) while it runs and removes it when it stops; a command
run beside it (`mailbridge oauth connect`) reads it there. MAILBRIDGE_NATS_URL, when set, wins,
as it does for every service.
"""

from pathlib import Path

NATS_URL_FILE = "nats-url"


class NoNatsUrl(ValueError):
    """Neither MAILBRIDGE_NATS_URL nor a running `mailbridge run` says where NATS is."""


def remember(var_dir: Path, url: str) -> None:
    path = var_dir / NATS_URL_FILE
    path.write_text(url + "\n")
    path.chmod(0o600)


def forget(var_dir: Path) -> None:
    (var_dir / NATS_URL_FILE).unlink(missing_ok=True)


def nats_url(configured: str | None, var_dir: Path) -> str:
    """MAILBRIDGE_NATS_URL (`configured`), else the URL of the NATS that a running `mailbridge
    run` on `var_dir` started."""
    if configured:
        return configured
    path = var_dir / NATS_URL_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise NoNatsUrl(
            f"MAILBRIDGE_NATS_URL is not set and no `mailbridge run` is running on {var_dir} "
            f"(no {path}): start it, or set MAILBRIDGE_NATS_URL"
        ) from None
