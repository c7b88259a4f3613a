"""The admin console's plain functions (#16): forms from the API's own OpenAPI schemas, form
values to JSON bodies and back, problems beside fields, languages, the session cookie."""

from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from mailbridge.common.secrets import SecretBox
from mailbridge.config_api.console import forms
from mailbridge.config_api.console.form_page import field_views
from mailbridge.config_api.console.forms import FormField, FormState
from mailbridge.config_api.console.i18n import LANGUAGES, Translator, catalogue, pick_language
from mailbridge.config_api.console.pages import safe_next
from mailbridge.config_api.console.screens import MAIL_SERVERS, REFERENCES, RESOURCE_SCREENS
from mailbridge.config_api.console.session import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    ConsoleSession,
    seal,
    set_cookie,
    tokens_match,
    unseal,
)
from mailbridge.config_api.groups.schemas import GroupIn
from mailbridge.config_api.mail_servers.schemas import MailServerIn
from mailbridge.config_api.mail_settings.schemas import MailSettingsPatch
from mailbridge.config_api.oauth_providers.schemas import OAuthProviderIn
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response


def components(*models: Any) -> dict[str, Any]:
    """The OpenAPI components of request bodies, as FastAPI documents them."""
    app = FastAPI()
    for index, model in enumerate(models):
        app.post(f"/{index}")(_accepting(model))
    schemas: dict[str, Any] = app.openapi()["components"]["schemas"]
    return schemas


def _accepting(model: Any) -> Any:
    async def route(body: model) -> None:
        return None

    return route


def by_name(fields: list[FormField]) -> dict[str, FormField]:
    return {f.name: f for f in fields}


def test_every_mail_server_field_gets_the_control_its_schema_asks_for() -> None:
    fields = by_name(forms.fields_of("MailServerIn", components(MailServerIn), REFERENCES))
    assert set(MailServerIn.model_fields) <= set(fields)
    assert fields["name"].kind == forms.TEXT
    assert fields["name"].required
    assert fields["oauth_provider_id"].kind == forms.SELECT
    assert fields["oauth_provider_id"].nullable
    assert fields["smtp_encryption"].kind == forms.SELECT
    assert fields["smtp_encryption"].choices == ("auto", "none", "ssl")
    assert fields["smtp_encryption"].enum == "SmtpEncryption"
    assert fields["smtp_auth"].kind == forms.CHECKBOX
    assert fields["smtp_auth"].default is True
    assert fields["delete_after_days"].kind == forms.NUMBER
    assert fields["delete_after_days"].nullable
    assert fields["incoming_protocol"].required


def test_a_secret_is_a_write_only_password_and_lists_are_lines_or_choices() -> None:
    provider = by_name(forms.fields_of("OAuthProviderIn", components(OAuthProviderIn), REFERENCES))
    assert provider["client_secret"].kind == forms.PASSWORD
    assert provider["client_secret"].write_only
    assert provider["client_secret"].description == ""
    assert provider["scopes"].kind == forms.LINES
    assert provider["authority"].kind == forms.URL
    group = by_name(forms.fields_of("GroupIn", components(GroupIn), REFERENCES))
    assert group["member_ids"].kind == forms.MULTISELECT


def test_the_manuals_order_comes_first_and_unknown_fields_follow() -> None:
    fields = forms.fields_of("MailServerIn", components(MailServerIn), REFERENCES)
    ordered = [f.name for f in forms.in_order(fields, MAIL_SERVERS.order)]
    assert ordered[: len(MAIL_SERVERS.order)] == [n for n in MAIL_SERVERS.order if n in ordered]
    assert sorted(ordered) == sorted(f.name for f in fields)


def test_a_submitted_form_becomes_the_body_the_api_judges() -> None:
    fields = forms.fields_of("MailServerIn", components(MailServerIn), REFERENCES)
    form = FormData([
        ("name", "Main"), ("oauth_provider_id", ""), ("smtp_host", "smtp.example.com:587"),
        ("smtp_encryption", "auto"), ("smtp_auth", "on"), ("incoming_protocol", "pop3"),
        ("incoming_host", "pop.example.com"), ("trash_folder", ""), ("delete_after_days", "seven"),
    ])  # fmt: skip
    values = forms.submitted_values(fields, form)
    body = forms.body_of(fields, values, editing=False)
    assert body["name"] == "Main"
    assert body["oauth_provider_id"] is None  # an empty choice: none
    assert body["smtp_auth"] is True
    assert body["send_via_server"] is False
    assert body["trash_folder"] is None  # empty optional text: null
    assert body["delete_after_days"] == "seven"  # not judged here: the API names the field
    assert values["delete_after_days"] == "seven"  # and the form shows it again as typed
    assert forms.body_of(fields, values | {"delete_after_days": "7"}, editing=False)["delete_after_days"] == 7


def test_an_empty_secret_keeps_the_stored_one_when_editing() -> None:
    fields = forms.fields_of("OAuthProviderIn", components(OAuthProviderIn), REFERENCES)
    values = forms.submitted_values(fields, FormData([("name", "M365"), ("server_type", "microsoft365_email"),
                                                       ("client_secret", ""), ("scopes", "a\n\n b \n")]))  # fmt: skip
    assert "client_secret" not in forms.body_of(fields, values, editing=True)
    assert forms.body_of(fields, values, editing=False)["client_secret"] is None
    assert forms.body_of(fields, values | {"client_secret": "s3"}, editing=True)["client_secret"] == "s3"
    assert forms.body_of(fields, values, editing=True)["scopes"] == ["a", "b"]


def test_initial_values_show_an_object_as_the_form_sends_it_back() -> None:
    fields = forms.fields_of("MailSettingsPatch", components(MailSettingsPatch), REFERENCES)
    values = forms.initial_values(fields, {"hide_mailbox": False, "fetch_interval_minutes": None,
                                           "lock_after_send": True})  # fmt: skip
    assert values["hide_mailbox"] is False
    assert values["lock_after_send"] is True
    assert values["fetch_interval_minutes"] == ""
    body = forms.body_of(fields, values, editing=True)
    assert body["fetch_interval_minutes"] is None  # empty: no automatic fetch (G2)


def test_a_problem_goes_beside_its_field_and_the_rest_above_the_form() -> None:
    fields = forms.fields_of("OAuthProviderIn", components(OAuthProviderIn), REFERENCES)
    state = FormState({})
    forms.apply_problem(state, {"detail": "invalid", "errors": [
        {"field": "scopes.2", "rule": "string_too_long", "message": "too long"},
        {"field": "name", "rule": "unique", "message": "'M' is already used by another object"},
        {"field": "body", "rule": "O1", "message": "a whole-object rule"},
    ]}, fields)  # fmt: skip
    assert state.errors == {
        "scopes": ["too long (string_too_long)"],
        "name": ["'M' is already used by another object (unique)"],
    }
    assert state.general == ["body: a whole-object rule (O1)"]
    bare = FormState({})
    forms.apply_problem(bare, {"title": "Conflict", "detail": "the change clashes"}, fields)
    assert bare.general == ["the change clashes"]


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "de-DE,de;q=0.9,en;q=0.8", "de"),
        (None, "en-US,en;q=0.9,de;q=0.8", "en"),
        (None, "fr-FR,de;q=0.5,en;q=0.4", "de"),
        (None, "fr-FR", "en"),
        (None, None, "en"),
        (None, "en;q=0.2, de;q=0.7", "de"),
        (None, "de;q=0", "en"),
        ("en", "de-DE", "en"),  # the switch overrides the browser
        ("xx", "de-DE", "de"),  # an unknown cookie is ignored
    ],
)
def test_the_language_is_the_switchs_else_the_browsers(
    cookie: str | None, header: str | None, expected: str
) -> None:
    assert pick_language(cookie, header) == expected


def test_both_languages_have_the_same_keys_and_every_screen_a_title() -> None:
    english, german = catalogue("en"), catalogue("de")
    assert set(english) == set(german)
    for screen in RESOURCE_SCREENS:
        for key in ("title", "new", "edit", "delete"):
            assert f"screen.{screen.slug}.{key}" in english
    for field in MailServerIn.model_fields:  # every S1–S13 field labelled and explained
        if field in MAIL_SERVERS.order:
            assert f"field.{field}" in english, field
            assert f"help.{field}" in english, field
    for field in ("hide_mailbox", "fetch_interval_minutes", "show_outbox_folder", "disallow_manual_fetch",
                  "users_can_reload", "lock_after_send"):  # fmt: skip
        assert f"field.{field}" in german, field
        assert f"help.{field}" in german, field


def test_a_missing_text_falls_back_to_english_then_to_the_key() -> None:
    german = Translator("de")
    assert german("ui.sign_in") == "Anmelden"
    assert german("no.such.key") == "no.such.key"
    assert german.first("field.mail-servers.nothing", "field.name", default="x") == "Name"
    assert (
        german("ui.delete_question", name="Main")
        == "„Main“ löschen? Das kann nicht rückgängig gemacht werden."
    )
    assert set(LANGUAGES) == {"en", "de"}


def test_the_session_cookie_is_sealed_with_the_installations_key() -> None:
    box = SecretBox([Fernet.generate_key().decode()])
    session = ConsoleSession("mbk_secret", "token", screens=("mail-settings",))
    sealed = seal(box, session)
    assert "mbk_secret" not in sealed
    assert unseal(box, sealed) == session
    other = SecretBox([Fernet.generate_key().decode()])
    assert unseal(other, sealed) is None  # made by another installation
    assert unseal(box, "garbage") is None
    assert unseal(box, None) is None
    assert unseal(box, box.encrypt('{"key": "k"}')) is None  # no CSRF token: no session


def test_a_session_ends_at_the_latest_twelve_hours_after_signing_in() -> None:
    box = SecretBox([Fernet.generate_key().decode()])
    sealed = seal(box, ConsoleSession("mbk_secret", "token", signed_in_at=1_000_000.0))
    assert unseal(box, sealed, now=1_000_000.0 + SESSION_MAX_AGE_S) is not None
    assert unseal(box, sealed, now=1_000_000.0 + SESSION_MAX_AGE_S + 1) is None
    assert unseal(box, sealed, now=1_000_000.0 - 60) is None  # from the future: not ours
    assert SESSION_MAX_AGE_S == 12 * 3600


def test_csrf_tokens_must_be_present_and_equal() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("abc", None)
    assert not tokens_match(None, None)
    assert not tokens_match("", "")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/users", "/console/users"),
        ("/console/users?cursor=x", "/console/users?cursor=x"),
        ("https://evil.example/console", "/console"),
        ("//evil.example/console", "/console"),
        ("/docs", "/console"),
        (None, "/console"),
        ("/console\\..\\x", "/console"),
    ],
)
def test_after_sign_in_only_a_console_page_is_a_target(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_console_cookies_are_http_only_strict_and_secure_over_https(scheme: str, secure: bool) -> None:
    scope = {"type": "http", "scheme": scheme, "server": ("console.example", 443), "path": "/console",
             "headers": [], "query_string": b""}  # fmt: skip
    response = Response()
    set_cookie(Request(scope), response, SESSION_COOKIE, "sealed")
    header = response.headers["set-cookie"]
    assert header.startswith(f"{SESSION_COOKIE}=sealed;")
    assert "HttpOnly" in header
    assert "SameSite=strict" in header
    assert "Path=/console" in header
    assert ("Secure" in header) is secure


def test_an_optional_choice_offers_none_and_sends_null() -> None:
    fields = [
        FormField(
            "preset", forms.SELECT, nullable=True, enum="LimitsPreset", choices=("microsoft365", "gmail")
        ),
        FormField("encryption", forms.SELECT, enum="SmtpEncryption", choices=("auto", "none", "ssl")),
    ]
    views = {v["name"]: v for v in field_views(Translator("en"), "mail-servers", fields, FormState({}), {})}
    assert views["preset"]["options"][0] == ("", "(none)")
    assert views["preset"]["options"][1] == ("microsoft365", "Microsoft 365")
    assert views["encryption"]["options"][0] == ("auto", "Automatic (TLS)")  # no "none" for a required choice
    assert forms.body_of(fields, {"preset": "", "encryption": "ssl"}, editing=False) == {
        "preset": None,
        "encryption": "ssl",
    }
