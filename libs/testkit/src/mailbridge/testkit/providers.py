"""What the hosted providers we cannot run here say over IMAP, as data, each fact with its source.

Microsoft 365 (Exchange Online, outlook.office365.com) and Gmail (imap.gmail.com) cannot be
started on loopback, so `scripted_imap.ScriptedImap` plays them from a `ProviderProfile`: the
greeting, CAPABILITY before and after login, the tagged OK wording, NAMESPACE, the separator,
the LIST answer with its special-use attributes (RFC 6154), whether a message appears in several
folders (Gmail's labels), and the answers a throttled or over-limit account gets, word for word.

Every field of a profile names its sources in `sources` (a test checks that none is missing): a
provider's documentation, an RFC, or a public protocol log in a well-known client's issue tracker.
A source whose `inferred` is true does not show the fact itself: the fact is reasoned from it
(say, the wording of an answer seen only in part), and the note says how.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    url: str
    shows: str
    inferred: bool = False


@dataclass(frozen=True)
class Folder:
    """One line of the LIST answer: the wire name (modified UTF-7) and its attributes."""

    name: str
    attributes: tuple[str, ...] = ()

    @property
    def selectable(self) -> bool:
        return not {"\\noselect", "\\nonexistent"} & {a.lower() for a in self.attributes}

    @property
    def special_use(self) -> str | None:
        uses = {"\\all", "\\archive", "\\drafts", "\\flagged", "\\junk", "\\sent", "\\trash", "\\important"}
        return next((a for a in self.attributes if a.lower() in uses), None)


@dataclass(frozen=True)
class Refusal:
    """A throttling or limit answer. `status` OK means the command is done all the same and only
    its tagged text changes (Gmail's [THROTTLED]); NO and BAD replace the command's answer. With
    `bye`, the connection then ends with `* BYE <bye>`, after `sticky_for` more commands that get
    the same answer."""

    name: str
    seen_at: tuple[str, ...]  # the commands it was seen answering
    status: str
    text: str
    source: Source
    bye: str | None = None
    sticky_for: int = 0

    def answer(self, tag: bytes) -> bytes:
        return tag + b" " + f"{self.status} {self.text}".encode() + b"\r\n"


@dataclass(frozen=True)
class ProviderProfile:
    name: str
    host: str  # where the real service answers (not contacted by anything here)
    greeting: str  # the untagged greeting line without "* "
    capabilities_before_login: tuple[str, ...]
    capabilities_after_login: tuple[str, ...]
    ok_text: str  # tagged OK text; "{command}" is replaced by the command's name
    namespace: str  # the untagged NAMESPACE answer without "* NAMESPACE "
    separator: str
    folders: tuple[Folder, ...]
    all_mail: str | None  # a folder holding every message (Gmail's \All), or None
    labels_as_folders: bool  # one message appears in the folder of each of its labels
    select_texts: Mapping[str, str]  # untagged OK texts of SELECT: UIDVALIDITY, UIDNEXT, …
    no_such_folder: str  # the tagged NO text of a SELECT of a folder it cannot open
    refusals: tuple[Refusal, ...]
    sources: Mapping[str, tuple[Source, ...]] = field(default_factory=dict)

    def has(self, capability: str) -> bool:
        return capability.upper() in {c.upper() for c in self.capabilities_after_login}

    def refusal(self, name: str) -> Refusal:
        return next(r for r in self.refusals if r.name == name)

    def folder(self, name: str) -> Folder | None:
        return next((f for f in self.folders if f.name == name), None)


_GMAIL_DOC = "https://developers.google.com/gmail/imap/imap-extensions"
_MAILKIT_1396 = "https://github.com/jstedfast/MailKit/issues/1396"
_GMAIL_LIMITS = "https://support.google.com/a/answer/1071518"

GMAIL = ProviderProfile(
    name="gmail",
    host="imap.gmail.com:993",
    greeting="OK Gimap ready for requests from 127.0.0.1 k2if6111336rvb.0",
    capabilities_before_login=(
        "IMAP4rev1",
        "UNSELECT",
        "IDLE",
        "NAMESPACE",
        "QUOTA",
        "ID",
        "XLIST",
        "CHILDREN",
        "X-GM-EXT-1",
        "XYZZY",
        "SASL-IR",
        "AUTH=XOAUTH2",
        "AUTH=PLAIN",
        "AUTH=PLAIN-CLIENTTOKEN",
        "AUTH=OAUTHBEARER",
        "AUTH=XOAUTH",
    ),
    capabilities_after_login=(
        "IMAP4rev1",
        "UNSELECT",
        "IDLE",
        "NAMESPACE",
        "QUOTA",
        "ID",
        "XLIST",
        "CHILDREN",
        "X-GM-EXT-1",
        "UIDPLUS",
        "COMPRESS=DEFLATE",
        "ENABLE",
        "MOVE",
        "CONDSTORE",
        "ESEARCH",
        "UTF8=ACCEPT",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "LITERAL-",
        "SPECIAL-USE",
        "APPENDLIMIT=35651584",
    ),
    ok_text="Success",
    namespace='(("" "/")) NIL NIL',
    separator="/",
    folders=(
        Folder("INBOX", ("\\HasNoChildren",)),
        Folder("Work", ("\\HasNoChildren",)),
        Folder("[Gmail]", ("\\HasChildren", "\\Noselect")),
        Folder("[Gmail]/All Mail", ("\\All", "\\HasNoChildren")),
        Folder("[Gmail]/Drafts", ("\\Drafts", "\\HasNoChildren")),
        Folder("[Gmail]/Important", ("\\HasNoChildren", "\\Important")),
        Folder("[Gmail]/Sent Mail", ("\\HasNoChildren", "\\Sent")),
        Folder("[Gmail]/Spam", ("\\HasNoChildren", "\\Junk")),
        Folder("[Gmail]/Starred", ("\\Flagged", "\\HasNoChildren")),
        Folder("[Gmail]/Trash", ("\\HasNoChildren", "\\Trash")),
    ),
    all_mail="[Gmail]/All Mail",
    labels_as_folders=True,
    select_texts={
        "PERMANENTFLAGS": "Flags permitted.",
        "UIDVALIDITY": "UIDs valid.",
        "UIDNEXT": "Predicted next UID.",
        "HIGHESTMODSEQ": "",
    },
    no_such_folder="[NONEXISTENT] Unknown Mailbox: {folder} (now in authenticated state) (Failure)",
    refusals=(
        Refusal(
            "too_many_connections",
            ("LOGIN", "AUTHENTICATE"),
            "NO",
            "[ALERT] Too many simultaneous connections. (Failure)",
            Source(
                "https://github.com/wenfxl/openai-cpa/issues/66",
                "imaplib's login error b'[ALERT] Too many simultaneous connections. (Failure)'; imaplib "
                "raises it for a tagged NO, so the status NO is read from that",
            ),
        ),
        Refusal(
            "over_quota",
            ("FETCH",),
            "NO",
            "[OVERQUOTA] Account exceeded command or bandwidth limits.",
            Source(
                "https://github.com/ljmerza/ha-email-sensor/issues/16",
                "IMAPClient: 'command: FETCH => [OVERQUOTA] Account exceeded command or bandwidth limits.' "
                "(status NO inferred: IMAPClient raises it for a tagged NO); the limit itself: "
                f"{_GMAIL_LIMITS} (2,500 MB a day downloaded over IMAP)",
                inferred=True,
            ),
        ),
        Refusal(
            "throttled",
            ("NAMESPACE", "LIST", "SELECT", "FETCH"),
            "OK",
            "Success [THROTTLED]",
            Source(
                _MAILKIT_1396,
                "'A00000002 OK Success [THROTTLED]' answering NAMESPACE and LIST; also "
                "https://github.com/mscdex/node-imap/issues/593 ('A2 OK Success [THROTTLED]')",
            ),
        ),
    ),
    sources={
        "greeting": (Source(_GMAIL_DOC, "'* OK Gimap ready for requests from 127.0.0.1 k2if6111336rvb.0'"),),
        "capabilities_before_login": (
            Source(_MAILKIT_1396, "protocol log of imap.gmail.com, CAPABILITY before AUTHENTICATE"),
        ),
        "capabilities_after_login": (
            Source(
                _MAILKIT_1396,
                "the CAPABILITY sent with the AUTHENTICATE answer: "
                "CONDSTORE, no QRESYNC, UIDPLUS, MOVE, IDLE, SPECIAL-USE, "
                "UTF8=ACCEPT",
            ),
        ),
        "ok_text": (Source(_GMAIL_DOC, "'a002 OK Success'"),),
        "namespace": (Source(_MAILKIT_1396, '\'* NAMESPACE (("" "/")) NIL NIL\''),),
        "separator": (Source(_GMAIL_DOC, 'LIST answers with "/"'),),
        "folders": (
            Source(
                _GMAIL_DOC,
                "LIST transcript: INBOX, [Gmail] (\\Noselect \\HasChildren), [Gmail]/All Mail "
                "\\All, Drafts, Important, Sent Mail \\Sent, Spam \\Junk, Starred \\Flagged, Trash \\Trash",
            ),
            Source(
                "https://github.com/lefcha/imapfilter/issues/272",
                "user labels are top-level folders "
                "('e-shops') beside '[Gmail]' (\\HasChildren \\Noselect); 'Work' here is such a label",
            ),
        ),
        "all_mail": (
            Source(_GMAIL_DOC, "\\All marks [Gmail]/All Mail (RFC 6154 §2: \\All holds every message)"),
        ),
        "labels_as_folders": (
            Source(
                _GMAIL_DOC,
                "X-GM-MSGID: 'a unique message ID … so that a unique message may be identified "
                "across multiple folders'; X-GM-LABELS lists a message's labels",
            ),
            Source(
                "https://github.com/polo2ro/imapbox/issues/6",
                "'Gmail uses IMAP folders to reflect its "
                "labels. An email can be assigned multiple labels so it appears in multiple IMAP folders', "
                "and under All Mail; its own UID in each folder is RFC 3501 §2.3.1.1 (a UID belongs to one "
                "mailbox)",
            ),
            Source(
                "https://github.com/OfflineIMAP/offlineimap/blob/master/offlineimap/folder/Gmail.py",
                "a well-known client that syncs Gmail folder by folder and reads X-GM-LABELS",
            ),
        ),
        "select_texts": (
            Source(
                "https://www.rfc-editor.org/rfc/rfc7162#section-3.1.2.1",
                "HIGHESTMODSEQ in SELECT where CONDSTORE is offered; Gmail's human texts are assumed",
                inferred=True,
            ),
        ),
        "no_such_folder": (
            Source(
                "https://www.rfc-editor.org/rfc/rfc5530#section-3",
                "[NONEXISTENT] for "
                "a mailbox that cannot be selected; Gmail's wording assumed from its "
                "'(Failure)' suffix on NO answers",
                inferred=True,
            ),
        ),
        "refusals": (
            Source(
                _GMAIL_LIMITS,
                "Gmail's IMAP limits (2,500 MB a day downloaded); the answers "
                "below are each sourced on their own",
            ),
        ),
    },
)

_MAILSPRING_1983 = "https://github.com/Foundry376/Mailspring/issues/1983"
_RAINLOOP_686 = "https://github.com/RainLoop/rainloop-webmail/issues/686"
_OAUTH2_PROXY_74 = "https://github.com/simonrob/email-oauth2-proxy/issues/74"

EXCHANGE_ONLINE = ProviderProfile(
    name="exchange-online",
    host="outlook.office365.com:993",
    greeting="OK The Microsoft Exchange IMAP4 service is ready. "
    "[QQBNADYAUABSADAAOABDAEEAMAAwADQANgAuAGUAdQByAHAAcgBkADAAOAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]",
    capabilities_before_login=(
        "IMAP4",
        "IMAP4rev1",
        "AUTH=PLAIN",
        "AUTH=XOAUTH2",
        "SASL-IR",
        "UIDPLUS",
        "ID",
        "UNSELECT",
        "CHILDREN",
        "IDLE",
        "NAMESPACE",
        "LITERAL+",
    ),
    capabilities_after_login=(
        "IMAP4",
        "IMAP4rev1",
        "AUTH=PLAIN",
        "AUTH=XOAUTH2",
        "SASL-IR",
        "UIDPLUS",
        "MOVE",
        "ID",
        "UNSELECT",
        "CLIENTACCESSRULES",
        "CLIENTNETWORKPRESENCELOCATION",
        "BACKENDAUTHENTICATE",
        "CHILDREN",
        "IDLE",
        "NAMESPACE",
        "LITERAL+",
    ),
    ok_text="{command} completed.",
    namespace='(("" "/")) NIL NIL',
    separator="/",
    folders=(
        Folder("Archive", ("\\HasNoChildren",)),
        Folder("Calendar", ("\\HasChildren",)),
        Folder("Contacts", ("\\HasChildren",)),
        Folder("Deleted Items", ("\\HasNoChildren", "\\Trash")),
        Folder("Drafts", ("\\HasNoChildren", "\\Drafts")),
        Folder("INBOX", ("\\Marked", "\\HasNoChildren")),
        Folder("Journal", ("\\HasNoChildren",)),
        Folder("Junk Email", ("\\HasNoChildren", "\\Junk")),
        Folder("Notes", ("\\HasNoChildren",)),
        Folder("Outbox", ("\\HasNoChildren",)),
        Folder("Sent Items", ("\\HasNoChildren", "\\Sent")),
        Folder("Tasks", ("\\HasNoChildren",)),
    ),
    all_mail=None,
    labels_as_folders=False,
    select_texts={
        "PERMANENTFLAGS": "Permanent flags",
        "UNSEEN": "Is the first unseen message",
        "UIDVALIDITY": "UIDVALIDITY value",
        "UIDNEXT": "The next unique identifier value",
    },
    no_such_folder="The requested item could not be found.",
    refusals=(
        Refusal(
            "login_throttled",
            ("LOGIN", "AUTHENTICATE"),
            "NO",
            "Request is throttled. Suggested Backoff Time: 256625 milliseconds",
            Source(
                "https://github.com/simonrob/email-oauth2-proxy/blob/main/README.md",
                "'a01 NO Request is throttled. Suggested Backoff Time: 256625' answering the proxy's "
                "first command (its login); ' milliseconds' added from the FETCH form below",
                inferred=True,
            ),
        ),
        Refusal(
            "command_throttled",
            ("FETCH", "SEARCH", "SELECT"),
            "BAD",
            "Request is throttled. Suggested Backoff Time: 178755 milliseconds",
            Source(
                "https://github.com/imapsync/imapsync/issues/212",
                "imapsync's Office 365 FAQ: 'BAD Request is throttled. Suggested Backoff Time: 178755 "
                "milliseconds'; imapflow's parser tests carry the same line with 92415",
            ),
        ),
        Refusal(
            "server_unavailable",
            ("SELECT", "STATUS", "FETCH"),
            "NO",
            "Server Unavailable. 15",
            Source(
                "https://github.com/lefcha/imapfilter/issues/146",
                "'10EA NO Server Unavailable. 15' after syncing 30-40 folders, gone when run later",
            ),
        ),
        Refusal(
            "not_connected",
            ("SELECT", "NAMESPACE"),
            "BAD",
            "User is authenticated but not connected.",
            Source(
                _OAUTH2_PROXY_74,
                "'00000003 BAD User is authenticated but not connected.' to SELECT "
                "INBOX after LOGIN and CAPABILITY succeeded, the same to the next command and then "
                "'* BYE Connection closed. 14'; https://github.com/mscdex/node-imap/issues/523 ties it "
                "to Office 365's limit of 20 concurrent IMAP connections",
            ),
            bye="Connection closed. 14",
            sticky_for=1,
        ),
    ),
    sources={
        "greeting": (
            Source(_MAILSPRING_1983, "'* OK The Microsoft Exchange IMAP4 service is ready. [QQBN…]'"),
        ),
        "capabilities_before_login": (Source(_MAILSPRING_1983, "CAPABILITY before LOGIN"),),
        "capabilities_after_login": (
            Source(
                _MAILSPRING_1983,
                "CAPABILITY after LOGIN: no CONDSTORE, no QRESYNC, no SPECIAL-USE, no "
                "ENABLE; UIDPLUS, MOVE, IDLE",
            ),
            Source(
                "https://github.com/jstedfast/MailKit/issues/2016",
                "2026: some tenants add ENABLE IMAP4rev2; still no CONDSTORE",
            ),
        ),
        "ok_text": (Source(_MAILSPRING_1983, "'1 OK CAPABILITY completed.', '2 OK LOGIN completed.'"),),
        "namespace": (Source(_MAILSPRING_1983, '\'* NAMESPACE (("" "/")) NIL NIL\''),),
        "separator": (Source(_MAILSPRING_1983, 'LIST answers with "/"'),),
        "folders": (
            Source(
                _MAILSPRING_1983,
                'LIST "" "*" of an Exchange Online mailbox: special-use attributes '
                "(\\Drafts, \\Sent, \\Trash) although SPECIAL-USE is not advertised; calendar, contacts, "
                "notes and tasks are listed as folders",
            ),
            Source(
                "https://github.com/postalsys/emailengine/issues/295",
                "English names: 'Deleted Items' "
                "\\Trash, 'Junk E-mail' (Exchange on-premises; Exchange Online says 'Junk Email')",
            ),
        ),
        "all_mail": (Source(_MAILSPRING_1983, "no \\All folder in the LIST answer"),),
        "labels_as_folders": (Source(_MAILSPRING_1983, "folders only, no labels (X-GM-EXT-1 absent)"),),
        "select_texts": (
            Source(
                _RAINLOOP_686,
                "SELECT INBOX on Office 365: '* OK [UIDVALIDITY 14] "
                "UIDVALIDITY value', '[UIDNEXT 4491] The next unique identifier value', no "
                "HIGHESTMODSEQ",
            ),
        ),
        "no_such_folder": (
            Source(
                _RAINLOOP_686, "Exchange's NO wording for a folder it cannot find is assumed", inferred=True
            ),
        ),
        "refusals": (
            Source(
                "https://learn.microsoft.com/en-us/office365/servicedescriptions/"
                "exchange-online-service-description/exchange-online-limits",
                "Exchange Online limits IMAP4 connections per mailbox and throttles by budget",
            ),
        ),
    },
)

PROFILES: tuple[ProviderProfile, ...] = (GMAIL, EXCHANGE_ONLINE)
