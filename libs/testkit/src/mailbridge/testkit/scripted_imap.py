"""A small IMAP4rev1 server that plays a hosted provider (Gmail, Exchange Online) from its profile.

`ScriptedImap(profile, mailbox)` is a script for `hostile.HostileServer` (one event loop in a thread,
loopback only, optionally TLS): `with HostileServer(ScriptedImap(GMAIL, box), tls=ctx) as server:`.
It greets and answers CAPABILITY, NAMESPACE, LIST and LSUB, SELECT and EXAMINE, STATUS, SEARCH,
FETCH, STORE, EXPUNGE, MOVE (each also as UID …), ENABLE, ID, NOOP, CLOSE, UNSELECT and LOGOUT in
the provider's words (`providers`), after LOGIN or AUTHENTICATE PLAIN. HIGHESTMODSEQ, MODSEQ and
CHANGEDSINCE exist only where the profile offers CONDSTORE.

`ScriptedMailbox` holds what the account has: messages, each in one or more folders with its own
UID there (a Gmail message with labels is in the folder of each label and in All Mail; its flags
are the message's, so \\Seen in INBOX is \\Seen in All Mail). A test changes it between polls
(`add`, `set_flags`, `delete`, `new_uidvalidity`); a lock keeps the server's thread out meanwhile.

`inject(refusal, at=…)` makes the next matching command (after `skip` of them) get one of the
profile's throttling or limit answers instead of its own (an OK refusal only changes the tagged
text; one with `bye` ends the connection). Mailbox names are the profile's wire names.
"""

import threading
from dataclasses import dataclass, field

from mailbridge.testkit.hostile import Conversation
from mailbridge.testkit.providers import ProviderProfile, Refusal
from mailbridge.testkit.scripted_imap_commands import Session, answer
from mailbridge.testkit.scripted_imap_wire import Args, parse_args

CRLF = b"\r\n"


@dataclass(eq=False)
class Message:
    raw: bytes
    flags: set[str]
    modseq: int
    number: int  # the account-wide identity (Gmail's X-GM-MSGID)


@dataclass
class FolderState:
    uidvalidity: int
    uidnext: int = 1
    highest_modseq: int = 1
    entries: list[tuple[int, Message]] = field(default_factory=list)  # (UID, message), UID order


class ScriptedMailbox:
    def __init__(self, profile: ProviderProfile, user: str, password: str, uidvalidity: int = 7) -> None:
        self.profile, self.user, self.password = profile, user, password
        self.lock = threading.RLock()
        self.folders = {
            f.name: FolderState(uidvalidity + i) for i, f in enumerate(profile.folders) if f.selectable
        }
        self._modseq, self._numbers = 1, 0

    def add(
        self, raw: bytes, folder: str = "INBOX", labels: tuple[str, ...] = (), flags: tuple[str, ...] = ()
    ) -> Message:
        """A message arriving in `folder`, also under `labels` (and All Mail where labels are folders)."""
        with self.lock:
            self._numbers += 1
            message = Message(raw, set(flags), self._bump(), self._numbers)
            places = [folder, *labels]
            if (
                self.profile.labels_as_folders
                and self.profile.all_mail
                and self.profile.all_mail not in places
            ):
                places.append(self.profile.all_mail)
            for name in places:
                state = self.folders[name]
                state.entries.append((state.uidnext, message))
                state.uidnext += 1
                state.highest_modseq = message.modseq
            return message

    def set_flags(self, message: Message, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
        with self.lock:
            message.flags = (message.flags | set(add)) - set(remove)
            self._touch(message)

    def delete(self, message: Message, folder: str | None = None) -> None:
        """Gone from `folder` (a label removed), or from every folder."""
        with self.lock:
            for name, state in self.folders.items():
                if folder in (None, name):
                    state.entries = [(u, m) for u, m in state.entries if m is not message]
                    state.highest_modseq = self._bump()

    def new_uidvalidity(self, folder: str) -> None:
        with self.lock:
            state = self.folders[folder]
            state.uidvalidity += 1000
            state.entries = [(uid, m) for uid, (_, m) in enumerate(state.entries, 1)]
            state.uidnext = len(state.entries) + 1

    def uid_of(self, message: Message, folder: str) -> int:
        with self.lock:
            return next(uid for uid, m in self.folders[folder].entries if m is message)

    def folders_of(self, message: Message) -> list[str]:
        with self.lock:
            return [n for n, s in self.folders.items() if any(m is message for _, m in s.entries)]

    def _bump(self) -> int:
        self._modseq += 1
        return self._modseq

    def _touch(self, message: Message) -> None:
        message.modseq = self._bump()
        for name in self.folders_of(message):
            self.folders[name].highest_modseq = message.modseq


@dataclass
class _Injected:
    refusal: Refusal
    at: str
    skip: int
    times: int


class ScriptedImap:
    def __init__(self, profile: ProviderProfile, mailbox: ScriptedMailbox) -> None:
        self.profile, self.mailbox = profile, mailbox
        self._injected: list[_Injected] = []
        self._lock = threading.Lock()

    def inject(self, refusal: Refusal, at: str, *, skip: int = 0, times: int = 1) -> None:
        """The next `times` commands named `at` (LOGIN also matches AUTHENTICATE; FETCH matches UID
        FETCH), after `skip` of them, get `refusal` instead of their answer."""
        with self._lock:
            self._injected.append(_Injected(refusal, at.upper(), skip, times))

    def _take(self, verb: str) -> Refusal | None:
        name = "LOGIN" if verb == "AUTHENTICATE" else verb
        with self._lock:
            for item in self._injected:
                if item.at == name and item.times > 0:
                    if item.skip > 0:
                        item.skip -= 1
                        return None
                    item.times -= 1
                    return item.refusal
        return None

    async def __call__(self, conversation: Conversation) -> None:
        session = Session()
        await conversation.send(b"* " + self.profile.greeting.encode() + CRLF)
        while True:
            line = await conversation.line()
            tag, _, rest = line.partition(b" ")
            words = parse_args(rest)
            verb = _word(words, 0)
            uid = verb == "UID"
            if uid:
                verb, words = _word(words, 1), words[1:]
            if session.sticky is not None:
                await conversation.send(session.sticky.answer(tag))
                if session.sticky_left <= 0:
                    await conversation.send(f"* BYE {session.sticky.bye}".encode() + CRLF)
                    return
                session.sticky_left -= 1
                continue
            refusal = self._take(verb)
            if refusal is not None and refusal.status != "OK":
                await conversation.send(refusal.answer(tag))
                if refusal.bye is not None:
                    if refusal.sticky_for <= 0:
                        await conversation.send(f"* BYE {refusal.bye}".encode() + CRLF)
                        return
                    session.sticky, session.sticky_left = refusal, refusal.sticky_for - 1
                continue
            if verb == "AUTHENTICATE" and len(words) == 2:
                await conversation.send(b"+ " + CRLF)
                words = [*words, await conversation.line()]
            with self.mailbox.lock:
                done = answer(self.profile, self.mailbox, session, verb, words[1:], uid)
            text = done.text if done.text is not None else self.profile.ok_text.format(command=verb)
            if refusal is not None:
                text = refusal.text
            body = b"".join(u + CRLF for u in done.untagged)
            await conversation.send(body + tag + f" {done.status} {text}".encode() + CRLF)
            if done.bye:
                return


def _word(words: Args, index: int) -> str:
    item = words[index] if len(words) > index else b""
    return item.decode(errors="replace").upper() if isinstance(item, bytes) else ""


__all__ = ["ScriptedImap", "ScriptedMailbox"]
