"""The console's resource screens as data: which API collection, which request schema the form
is made from, which columns the list shows. Adding a resource screen is adding one entry here
(and its texts to translations/*.json); `routes.py` makes its list, new, edit and delete pages."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """A field holding the id(s) of objects of another collection: shown as their names."""

    path: str  # the API collection, e.g. /oauth-providers
    label: str = "name"  # the field shown for each choice


@dataclass(frozen=True)
class ResourceScreen:
    slug: str  # under /console/, and the translation keys' `screen.<slug>.*`
    path: str  # the API collection under /api/v1
    schema: str  # the request schema in the OpenAPI document (the form's fields)
    columns: tuple[str, ...]  # what the list shows of each object (fields of its response)
    requirements: str = ""  # the requirement ids the screen covers, shown under its title
    # After a delete refused with 409: the collections its `blocking_ids` may belong to, to name them.
    blocking: tuple[Reference, ...] = ()
    # The form's fields in the manual's order; fields not named follow in the schema's order.
    order: tuple[str, ...] = ()


# Fields that refer to other objects, by field name (the same name means the same thing across
# the API's schemas).
REFERENCES = {
    "oauth_provider_id": Reference("/oauth-providers"),
    "business_unit_id": Reference("/business-units"),
    "member_ids": Reference("/users"),
    "server_id": Reference("/mail-servers"),
}

ACCOUNTS = Reference("/mail-accounts", label="address")
# S1–S12 in the manual's order, then what the API adds (IMAP push, provider limits)
MAIL_SERVER_FIELDS = (
    "name", "oauth_provider_id", "smtp_host", "smtp_encryption", "smtp_auth", "allow_plaintext_auth",
    "send_via_server", "incoming_protocol", "incoming_host", "incoming_tls", "incoming_tls_mode",
    "trash_folder", "spam_folder", "sent_folder", "delete_after_fetch", "delete_after_days", "push",
    "limits_preset",
)  # fmt: skip

MAIL_SERVERS = ResourceScreen(
    "mail-servers",
    "/mail-servers",
    "MailServerIn",
    ("name", "smtp_host", "smtp_port", "incoming_protocol", "incoming_host", "incoming_port"),
    "S1–S13",
    blocking=(ACCOUNTS,),
    order=MAIL_SERVER_FIELDS,
)
OAUTH_PROVIDERS = ResourceScreen(
    "oauth-providers",
    "/oauth-providers",
    "OAuthProviderIn",
    ("name", "server_type", "use_default_settings", "redirect_uri"),
    "O1–O3",
    blocking=(Reference("/mail-servers"),),
)
USERS = ResourceScreen("users", "/users", "UserIn", ("name", "email"), blocking=(ACCOUNTS,))
GROUPS = ResourceScreen("groups", "/groups", "GroupIn", ("name",), blocking=(ACCOUNTS,))
BUSINESS_UNITS = ResourceScreen(
    "business-units", "/business-units", "BusinessUnitIn", ("name",), blocking=(Reference("/users"), ACCOUNTS)
)

RESOURCE_SCREENS = (MAIL_SERVERS, OAUTH_PROVIDERS, USERS, GROUPS, BUSINESS_UNITS)

# The e-mail settings (G1–G6): one object, no list; its form is made from the PATCH schema.
MAIL_SETTINGS_PATH = "/settings/mail"
MAIL_SETTINGS_SCHEMA = "MailSettingsPatch"
