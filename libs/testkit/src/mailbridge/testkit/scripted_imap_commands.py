"""The commands of `scripted_imap`'s server, each a function of the session and its arguments.

Arguments come parsed by `scripted_imap_wire.parse_args`. The server's lock is held while a
command runs, so a test's change to the mailbox lands between two commands.
"""

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mailbridge.testkit.providers import ProviderProfile, Refusal
from mailbridge.testkit.scripted_imap_wire import Args, sequence_set

if TYPE_CHECKING:
    from mailbridge.testkit.scripted_imap import FolderState, Message, ScriptedMailbox

SYSTEM_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
INTERNALDATE = '"26-Nov-2026 10:00:00 +0000"'


@dataclass
class Session:
    authenticated: bool = False
    selected: str | None = None
    readonly: bool = False
    sticky: Refusal | None = None  # the answer every later command gets, then BYE
    sticky_left: int = 0


@dataclass
class Answer:
    untagged: list[bytes] = field(default_factory=list)
    status: str = "OK"
    text: str | None = None  # None: the profile's OK text
    bye: bool = False


@dataclass
class _Call:
    profile: ProviderProfile
    box: "ScriptedMailbox"
    session: Session
    args: Args
    uid: bool

    def text(self, index: int) -> str:
        item = self.args[index] if len(self.args) > index else b""
        return item.decode(errors="replace") if isinstance(item, bytes) else ""

    def folder(self) -> "FolderState":
        assert self.session.selected is not None
        return self.box.folders[self.session.selected]

    def messages(self, message_set: str) -> list[tuple[int, int, "Message"]]:
        """(sequence number, UID, message) of the selected folder's messages in `message_set`."""
        entries = self.folder().entries
        top = (entries[-1][0] if self.uid else len(entries)) if entries else 0
        wanted = sequence_set(message_set, top)
        found = [(n, uid, m) for n, (uid, m) in enumerate(entries, 1)]
        return [item for item in found if (item[1] if self.uid else item[0]) in wanted]


def answer(
    profile: ProviderProfile, box: "ScriptedMailbox", session: Session, verb: str, args: Args, uid: bool
) -> Answer:
    call = _Call(profile, box, session, args, uid)
    if verb in _ANY_STATE:
        return _ANY_STATE[verb](call)
    if not session.authenticated:
        return Answer(status="BAD", text="not logged in")
    if verb in _AUTHENTICATED:
        return _AUTHENTICATED[verb](call)
    if verb in _SELECTED:
        if session.selected is None:
            return Answer(status="BAD", text="no folder selected")
        return _SELECTED[verb](call)
    return Answer(status="BAD", text="command unknown or arguments invalid")


def _capability(call: _Call) -> Answer:
    words = (
        call.profile.capabilities_after_login
        if call.session.authenticated
        else call.profile.capabilities_before_login
    )
    return Answer([b"* CAPABILITY " + " ".join(words).encode()])


def _login(call: _Call) -> Answer:
    return _logged_in(call, call.text(0), call.text(1))


def _authenticate(call: _Call) -> Answer:
    if call.text(0).upper() != "PLAIN" or len(call.args) < 2:
        return Answer(status="NO", text="mechanism not supported")
    response = call.args[1]
    try:
        assert isinstance(response, bytes)
        _, user, password = base64.b64decode(response, validate=True).split(b"\x00")
    except (ValueError, AssertionError):
        return Answer(status="BAD", text="invalid SASL response")
    return _logged_in(call, user.decode(errors="replace"), password.decode(errors="replace"))


def _logged_in(call: _Call, user: str, password: str) -> Answer:
    if call.session.authenticated:
        return Answer(status="BAD", text="already logged in")
    if (user, password) != (call.box.user, call.box.password):
        return Answer(status="NO", text="[AUTHENTICATIONFAILED] Invalid credentials")
    call.session.authenticated = True
    return Answer()


def _logout(call: _Call) -> Answer:
    return Answer([b"* BYE logging out"], bye=True)


def _noop(call: _Call) -> Answer:
    return Answer()


def _id(call: _Call) -> Answer:
    return Answer([b"* ID NIL"])


def _namespace(call: _Call) -> Answer:
    return Answer([b"* NAMESPACE " + call.profile.namespace.encode()])


def _enable(call: _Call) -> Answer:
    if not call.profile.has("ENABLE"):
        return Answer(status="BAD", text="command unknown or arguments invalid")
    enabled = [call.text(i) for i in range(len(call.args)) if call.profile.has(call.text(i))]
    return Answer([b"* ENABLED " + " ".join(enabled).encode()])


def _list(call: _Call, verb: str = "LIST") -> Answer:
    options = call.args[0] if call.args and isinstance(call.args[0], list) else None
    args = call.args[1:] if options is not None else call.args
    special_only = options is not None and b"SPECIAL-USE" in [
        o.upper() for o in options if isinstance(o, bytes)
    ]
    pattern = (args[0] if isinstance(args[0], bytes) else b"").decode() + (
        args[1] if isinstance(args[1], bytes) else b""
    ).decode()
    sep = call.profile.separator
    if pattern == "":
        return Answer([f'* {verb} (\\Noselect) "{sep}" ""'.encode()])
    wildcards = {"*": ".*", "%": f"[^{re.escape(sep)}]*"}
    regex = re.compile("".join(wildcards.get(c, re.escape(c)) for c in pattern), re.S)
    lines = []
    for folder in call.profile.folders:
        if not regex.fullmatch(folder.name) or (special_only and folder.special_use is None):
            continue
        lines.append(f'* {verb} ({" ".join(folder.attributes)}) "{sep}" {_quoted(folder.name)}'.encode())
    return Answer(lines)


def _select(call: _Call, readonly: bool = False) -> Answer:
    name, params = _mailbox_name(call.text(0)), call.args[1:]
    call.session.selected = None
    condstore = call.profile.has("CONDSTORE")
    if params and not (condstore and params[0] == [b"CONDSTORE"]):
        return Answer(status="BAD", text="command unknown or arguments invalid")
    if name not in call.box.folders:
        return Answer(status="NO", text=call.profile.no_such_folder.format(folder=name))
    call.session.selected, call.session.readonly = name, readonly
    state, says = call.box.folders[name], call.profile.select_texts
    unseen = [n for n, (_, m) in enumerate(state.entries, 1) if "\\Seen" not in m.flags]
    lines = [
        f"* FLAGS ({SYSTEM_FLAGS})",
        f"* OK [PERMANENTFLAGS ({SYSTEM_FLAGS} \\*)] {says.get('PERMANENTFLAGS', '')}",
        f"* OK [UIDVALIDITY {state.uidvalidity}] {says.get('UIDVALIDITY', '')}",
        f"* {len(state.entries)} EXISTS",
        "* 0 RECENT",
        f"* OK [UIDNEXT {state.uidnext}] {says.get('UIDNEXT', '')}",
    ]
    if unseen and "UNSEEN" in says:
        lines.append(f"* OK [UNSEEN {unseen[0]}] {says['UNSEEN']}")
    if condstore:
        lines.append(f"* OK [HIGHESTMODSEQ {state.highest_modseq}] {says.get('HIGHESTMODSEQ', '')}".rstrip())
    access = "[READ-ONLY]" if readonly else "[READ-WRITE]"
    return Answer(
        [line.rstrip().encode() for line in lines],
        text=f"{access} {call.profile.ok_text.format(command='SELECT')}",
    )


def _status(call: _Call) -> Answer:
    name = _mailbox_name(call.text(0))
    if name not in call.box.folders:
        return Answer(status="NO", text=call.profile.no_such_folder.format(folder=name))
    state = call.box.folders[name]
    items = call.args[1] if len(call.args) > 1 and isinstance(call.args[1], list) else []
    values = {
        "MESSAGES": len(state.entries), "UIDNEXT": state.uidnext, "UIDVALIDITY": state.uidvalidity,
        "RECENT": 0, "UNSEEN": sum("\\Seen" not in m.flags for _, m in state.entries),
        "HIGHESTMODSEQ": state.highest_modseq,
    }  # fmt: skip
    asked = [i.decode().upper() for i in items if isinstance(i, bytes)]
    said = " ".join(
        f"{k} {values[k]}"
        for k in asked
        if k in values and (k != "HIGHESTMODSEQ" or call.profile.has("CONDSTORE"))
    )
    return Answer([f"* STATUS {_quoted(name)} ({said})".encode()])


def _fetch(call: _Call) -> Answer:
    items = call.args[1] if len(call.args) > 1 else []
    names = [
        i.decode().upper() for i in (items if isinstance(items, list) else [items]) if isinstance(i, bytes)
    ]
    modifier = call.args[2] if len(call.args) > 2 and isinstance(call.args[2], list) else []
    value = modifier[1] if len(modifier) == 2 and modifier[0] == b"CHANGEDSINCE" else None
    since = int(value) if isinstance(value, bytes) else None
    if since is not None:
        names.append("MODSEQ")
    lines = []
    for number, uid, message in call.messages(call.text(0)):
        if since is not None and message.modseq <= since:
            continue
        parts = [f"UID {uid}".encode()] if call.uid or "UID" in names else []
        for name in names:
            parts += _item(call, name, message)
        lines.append(f"* {number} FETCH (".encode() + b" ".join(parts) + b")")
    return Answer(lines)


def _item(call: _Call, name: str, message: "Message") -> list[bytes]:
    gmail, condstore = call.profile.has("X-GM-EXT-1"), call.profile.has("CONDSTORE")
    simple: dict[str, Callable[[], str]] = {
        "FLAGS": lambda: f"FLAGS ({' '.join(sorted(message.flags))})",
        "RFC822.SIZE": lambda: f"RFC822.SIZE {len(message.raw)}",
        "INTERNALDATE": lambda: f"INTERNALDATE {INTERNALDATE}",
    }  # fmt: skip
    if condstore:
        simple["MODSEQ"] = lambda: f"MODSEQ ({message.modseq})"
    if gmail:
        simple["X-GM-MSGID"] = lambda: f"X-GM-MSGID {1_600_000_000_000_000_000 + message.number}"
        simple["X-GM-THRID"] = lambda: f"X-GM-THRID {1_600_000_000_000_000_000 + message.number}"
        simple["X-GM-LABELS"] = lambda: f"X-GM-LABELS ({' '.join(_labels(call, message))})"
    if name in simple:
        return [simple[name]().encode()]
    if name in ("BODY[]", "BODY.PEEK[]", "RFC822"):
        if not name.startswith("BODY.PEEK") and not call.session.readonly:
            call.box.set_flags(message, add=("\\Seen",))
        label = "RFC822" if name == "RFC822" else "BODY[]"
        return [f"{label} {{{len(message.raw)}}}\r\n".encode() + message.raw]
    return []


def _labels(call: _Call, message: "Message") -> list[str]:
    names = {"INBOX": '"\\\\Inbox"'}
    places = [f for f in call.box.folders_of(message) if f != call.profile.all_mail]
    return [names.get(f, _quoted(f)) for f in places]


def _search(call: _Call) -> Answer:
    criteria = [a.decode().upper() if isinstance(a, bytes) else "" for a in call.args]
    found, modseq_asked = call.messages("1:*"), False
    index = 0
    while index < len(criteria):
        key = criteria[index]
        if key == "CHARSET":
            index += 1
        elif key == "MODSEQ":
            floor = int(criteria[index + 1])
            found, modseq_asked, index = [f for f in found if f[2].modseq >= floor], True, index + 1
        elif key == "UID":
            wanted = {f[1] for f in call.messages(criteria[index + 1])} if call.uid else set()
            found, index = [f for f in found if f[1] in wanted], index + 1
        elif key in ("SEEN", "UNSEEN", "DELETED"):
            flag = "\\Deleted" if key == "DELETED" else "\\Seen"
            found = [f for f in found if (flag in f[2].flags) == (key != "UNSEEN")]
        elif key != "ALL":
            return Answer(status="BAD", text="command unknown or arguments invalid")
        index += 1
    numbers = " ".join(str(f[1] if call.uid else f[0]) for f in found)
    suffix = f" (MODSEQ {max(f[2].modseq for f in found)})" if modseq_asked and found else ""
    return Answer([f"* SEARCH {numbers}{suffix}".rstrip().encode()])


def _store(call: _Call) -> Answer:
    change = call.text(1).upper()
    flags = call.args[2] if len(call.args) > 2 else []
    given = tuple(f.decode() for f in (flags if isinstance(flags, list) else [flags]) if isinstance(f, bytes))
    lines = []
    for number, uid, message in call.messages(call.text(0)):
        if change.startswith("+"):
            call.box.set_flags(message, add=given)
        elif change.startswith("-"):
            call.box.set_flags(message, remove=given)
        else:
            call.box.set_flags(message, add=given, remove=tuple(message.flags - set(given)))
        if not change.endswith(".SILENT"):
            lines.append(f"* {number} FETCH (UID {uid} FLAGS ({' '.join(sorted(message.flags))}))".encode())
    return Answer(lines)


def _expunge(call: _Call) -> Answer:
    chosen = call.messages(call.text(0)) if call.uid else call.messages("1:*")
    gone = [item for item in chosen if "\\Deleted" in item[2].flags]
    return Answer(_remove(call, gone))


def _remove(call: _Call, gone: list[tuple[int, int, "Message"]]) -> list[bytes]:
    """Out of the selected folder; out of every folder when it is All Mail (Gmail: deleted)."""
    everywhere = call.session.selected == call.profile.all_mail
    for _, _, message in gone:
        call.box.delete(message, None if everywhere else call.session.selected)
    return [f"* {number} EXPUNGE".encode() for number, _, _ in sorted(gone, key=lambda g: -g[0])]


def _move(call: _Call) -> Answer:
    target = _mailbox_name(call.text(1))
    if target not in call.box.folders or not call.profile.has("MOVE"):
        return Answer(status="NO", text=call.profile.no_such_folder.format(folder=target))
    moving = call.messages(call.text(0))
    state, pairs = call.box.folders[target], []
    for _, uid, message in moving:
        pairs.append((uid, state.uidnext))
        state.entries.append((state.uidnext, message))
        state.uidnext += 1
    lines = []
    if call.profile.has("UIDPLUS") and pairs:
        olds, news = ",".join(str(p[0]) for p in pairs), ",".join(str(p[1]) for p in pairs)
        lines.append(f"* OK [COPYUID {state.uidvalidity} {olds} {news}] moved".encode())
    return Answer(lines + _remove(call, moving))


def _close(call: _Call) -> Answer:
    if not call.session.readonly:
        _remove(call, [item for item in call.messages("1:*") if "\\Deleted" in item[2].flags])
    call.session.selected = None
    return Answer()


def _unselect(call: _Call) -> Answer:
    call.session.selected = None
    return Answer()


_ANY_STATE: dict[str, Callable[[_Call], Answer]] = {
    "CAPABILITY": _capability, "LOGIN": _login, "AUTHENTICATE": _authenticate, "LOGOUT": _logout,
    "NOOP": _noop, "ID": _id,
}  # fmt: skip
_AUTHENTICATED: dict[str, Callable[[_Call], Answer]] = {
    "NAMESPACE": _namespace, "ENABLE": _enable, "LIST": _list, "LSUB": lambda c: _list(c, "LSUB"),
    "SELECT": _select, "EXAMINE": lambda c: _select(c, readonly=True), "STATUS": _status,
}  # fmt: skip
_SELECTED: dict[str, Callable[[_Call], Answer]] = {
    "FETCH": _fetch, "SEARCH": _search, "STORE": _store, "EXPUNGE": _expunge, "MOVE": _move,
    "CLOSE": _close, "UNSELECT": _unselect,
}  # fmt: skip


def _mailbox_name(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
