"""The console's mail view and account form as plain functions (#16): a stored mail parsed, its
HTML sanitized with remote content left out until asked, the frame's CSP, attachments by
position; the account's owner choice and its health in words (A1, O4, O5)."""

from email.message import EmailMessage

from mailbridge.config_api.console import account_forms, mail_view
from mailbridge.config_api.console.forms import CHECKBOX, TEXT, FormField
from mailbridge.config_api.console.i18n import Translator
from mailbridge.config_api.console.mailbox_routes import addresses

PIXEL = "http://tracker.example/p.png"


def _mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Buyer <b@shop.example>", "ann@example.com", "Grüße"
    mail.set_content("plain")
    mail.add_alternative(
        f'<p onmouseover="x()">Hi</p><script>alert(1)</script><img src="{PIXEL}">'
        '<img srcset="//cdn.example/a.png 2x"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<a href="javascript:alert(1)">bad</a><a href="https://ok.example/">ok</a><form><input></form>',
        subtype="html",
    )
    mail.add_attachment(b"\x00\x01", maintype="application", subtype="pdf", filename="invoice.pdf")
    return mail.as_bytes()


def test_a_mail_is_parsed_into_headers_text_html_and_attachments() -> None:
    view = mail_view.parse(_mail())
    assert (view.from_, view.subject, view.text) == ("Buyer <b@shop.example>", "Grüße", "plain\n")
    assert view.html is not None
    assert "<script>" in view.html
    [found] = view.attachments
    assert (found.filename, found.content_type, found.size) == ("invoice.pdf", "application/pdf", 2)
    assert mail_view.attachment(_mail(), found.index) == ("invoice.pdf", b"\x00\x01")
    assert mail_view.attachment(_mail(), 0) is None  # the multipart container is no attachment
    assert mail_view.attachment(_mail(), 99) is None


def test_html_loses_scripts_handlers_forms_and_remote_content_until_asked() -> None:
    html = mail_view.parse(_mail()).html or ""
    blocked = mail_view.safe_html(html, remote=False)
    for gone in ("<script", "onmouseover", "javascript:", "<form", "<input", PIXEL, "cdn.example"):
        assert gone not in blocked
    assert 'src="data:image/png' in blocked
    assert 'href="https://ok.example/"' in blocked
    assert mail_view.has_remote_content(html)
    shown = mail_view.safe_html(html, remote=True)
    assert PIXEL in shown
    assert "<script" not in shown
    assert not mail_view.has_remote_content("<p>only text</p><img src='data:image/png;base64,AA=='>")


def test_the_frame_policy_runs_nothing_and_loads_remote_images_only_when_asked() -> None:
    blocked, shown = mail_view.frame_csp(remote=False), mail_view.frame_csp(remote=True)
    for policy in (blocked, shown):
        assert "default-src 'none'" in policy
        assert "sandbox" in policy
        assert "allow-scripts" not in policy
        assert "script-src" not in policy
        assert "frame-ancestors 'self'" in policy
    assert "img-src data:;" in blocked
    assert "img-src data: https: http:;" in shown


def test_the_owner_is_one_choice_sent_as_the_apis_object() -> None:
    fields = account_forms.with_owner_choice(
        [FormField("owner", TEXT), FormField("login", TEXT, required=True), FormField("can_send", CHECKBOX)]
    )
    assert fields[0].kind == "select"
    assert fields[0].required
    body = account_forms.account_body(fields, {"owner": "group:g1", "login": "a", "can_send": True}, False)
    assert body == {"owner": {"type": "group", "id": "g1"}, "login": "a", "can_send": True}
    assert (
        account_forms.account_body(fields, {"owner": "", "login": "a", "can_send": False}, False)["owner"]
        is None
    )
    assert account_forms.owner_of("robot:1") is None
    assert account_forms.owner_value({"type": "user", "id": "u1"}) == "user:u1"
    t = Translator("de")
    assert account_forms.owner_choices(
        t, [{"id": "u1", "name": "Ann"}], [{"id": "g1", "name": "Vertrieb"}]
    ) == [
        ("user:u1", "Benutzer: Ann"),
        ("group:g1", "Benutzergruppe: Vertrieb"),
    ]


def test_health_reads_as_words_in_the_pages_language() -> None:
    health = {
        "state": "failing", "reason": "login refused", "failing_since": "2026-05-04T09:12:00Z",
        "last_fetch": {"status": "failed", "finished_at": "2026-05-04T09:12:31.5+00:00", "error": "auth"},
        "last_send": {"status": "never", "at": None, "error": None},
    }  # fmt: skip
    view = account_forms.health_view(Translator("en"), health)
    assert (view["state"], view["reason"], view["send"]) == ("failing", "login refused", "never")
    assert view["fetch"] == "failed, 2026-05-04 09:12 UTC: auth"
    assert account_forms.health_view(Translator("de"), health)["state"] == "fehlerhaft"


def test_addresses_are_split_as_typed() -> None:
    assert addresses(" a@x.example, b@x.example;c@x.example\nd@x.example ") == [
        "a@x.example", "b@x.example", "c@x.example", "d@x.example",
    ]  # fmt: skip


def test_every_account_text_exists_in_english_and_german() -> None:
    import json
    from importlib.resources import files

    folder = files("mailbridge.config_api.console").joinpath("translations")
    english = json.loads(folder.joinpath("accounts.en.json").read_text("utf-8"))
    german = json.loads(folder.joinpath("accounts.de.json").read_text("utf-8"))
    assert set(english) == set(german)
    assert Translator("de")("screen.mail-accounts.title") == "E-Mail-Konten"
