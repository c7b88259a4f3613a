"""#16, the API as a newcomer meets it, through `mailbridge run` (what `make run` starts): the
README's curl walk-through (server → user → account → fetch → read → send) runs as written
against the test Dovecot and Postfix; the documentation pages load every asset from config-api
itself; and every line the services log is JSON, FastStream's start banner included."""

import email.message
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from e2e_system import REPO, RunningSystem, start_make_run
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser

MAILBRIDGE_RUN = (str(Path(sys.executable).parent / "mailbridge"), "run")
BLOCK = re.compile(r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", re.DOTALL)
SEEDED_SUBJECT = "Order 4711: delivery date"
LOG_KEYS = {"ts", "level", "logger", "msg"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, mail_stack: MailStack) -> Iterator[RunningSystem]:
    running = start_make_run(
        tmp_path_factory.mktemp("walkthrough") / "var",
        {"MAILBRIDGE_EXTRA_CA_FILE": str(mail_stack.ca_file), "MAILBRIDGE_LOG_FORMAT": "json"},
        command=MAILBRIDGE_RUN,
        split_stderr=True,
    )
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.interrupt()


def walkthrough() -> str:
    match = BLOCK.search((REPO / "README.md").read_text())
    assert match, "the README's walk-through block"
    return match.group(1)


def _seed(stack: MailStack, user: MailUser) -> None:
    """A mail in the mailbox's INBOX for the walk-through to fetch and read."""
    mail = email.message.EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "buyer@customer.example", user.address, SEEDED_SUBJECT
    mail.set_content("When will order 4711 arrive?")
    with stack.imap(user) as session:
        status, _ = session.append("INBOX", None, None, mail.as_bytes())
    assert status == "OK"


def test_the_readme_walkthrough_runs_as_written(system: RunningSystem, mail_stack: MailStack) -> None:
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the walk-through needs {tool}"
    mailbox = mail_stack.add_user()
    _seed(mail_stack, mailbox)
    env = {
        **os.environ,
        "API": f"{system.base_url}/api/v1",
        "KEY": system.admin_key(),
        "SMTP_HOST": f"127.0.0.1:{mail_stack.ports.submission}",
        "IMAP_HOST": f"127.0.0.1:{mail_stack.ports.imap}",
        "LOGIN": mailbox.address,
        "PASSWORD": mailbox.password,
    }
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", walkthrough()],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert '"reason":"manual"' in out, out  # 4. the fetch was queued
    assert SEEDED_SUBJECT in out, out  # 5. the seeded mail was fetched and read
    assert "When will order 4711 arrive?" in out, out  # … in full (raw)
    final = json.loads(out[out.rindex("{") :])
    assert final["status"] == "sent", out  # 6. sent
    assert final["last_reply"].startswith("250"), out


def test_the_docs_pages_load_every_asset_from_config_api(system: RunningSystem) -> None:
    with httpx.Client(base_url=system.base_url, timeout=10) as client:
        for page in ("/docs", "/redoc", "/asyncapi"):
            response = client.get(page)
            assert response.status_code == 200, page
            urls = _references(response.text)
            assert urls, page
            for url in urls:
                assert url.startswith("/"), (page, url)
                assert client.get(url).status_code == 200, (page, url)
        document = client.get("/asyncapi.json").json()
        assert "MailFetched.v1" in document["channels"]
        security = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert [scheme["scheme"] for scheme in security.values()] == ["bearer"]


def test_every_log_line_is_json(system: RunningSystem) -> None:
    """Runs last in this module: stops the system so that shutdown's lines are in too."""
    system.interrupt()
    assert system.errors is not None
    lines = system.errors.read_text().splitlines()
    assert lines, "the services logged nothing"
    loggers = set()
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
        assert isinstance(entry, dict)
        assert entry.keys() >= LOG_KEYS, line
        loggers.add(entry["logger"])
    assert "faststream" in loggers, "FastStream's start banner, as JSON"
    assert "uvicorn.error" in loggers


def _references(html: str) -> list[str]:
    class References(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.urls: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
            self.urls += [value for name, value in attrs if name == wanted and value]

    parser = References()
    parser.feed(html)
    return parser.urls
