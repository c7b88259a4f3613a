"""#11, S10/A11: a move to the account's trash on a server without MOVE (RFC 6851), as Courier 5.0
is (UIDPLUS, no MOVE), played by a scripted server (`CopyOnly`) on loopback; and a move of a
message another client already took away, on the real Dovecot.

What a user wants: the message lands in the trash and leaves its folder, the stored copy follows it
(COPYUID), and nothing else on the server changes — in particular not a message another client
marked \\Deleted (only UID EXPUNGE of exactly that UID, never a plain EXPUNGE). A server that
offers neither MOVE nor UIDPLUS gets no command at all, and the change ends at once (no retry for
ever) with a reason that names both."""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fetcher_testing import FetchWorld, message
from hostile_accounts import hostile_account
from mailbridge.common.events import MailboxAction, MailboxChangeRequested
from mailbridge.fetcher.changes import apply_change
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.hostile import Conversation, HostileServer
from mailbridge.testkit.users import MailUser

CRLF = b"\r\n"
DELETED = "\\Deleted"


@dataclass
class Box:
    uidvalidity: int
    uidnext: int = 1
    messages: dict[int, tuple[bytes, set[str]]] = field(default_factory=dict)  # UID → (raw, flags)

    def add(self, raw: bytes, *flags: str) -> int:
        uid, self.uidnext = self.uidnext, self.uidnext + 1
        self.messages[uid] = (raw, set(flags))
        return uid


@dataclass
class CopyOnly:
    """IMAP4rev1 with INBOX and Trash and no MOVE; with `uidplus`, UIDPLUS (COPYUID, UID EXPUNGE).
    The folders are shared by every connection; `commands` is what clients sent, without tags."""

    uidplus: bool
    folders: dict[str, Box] = field(default_factory=lambda: {"INBOX": Box(11), "Trash": Box(12)})
    commands: list[str] = field(default_factory=list)

    async def __call__(self, conversation: Conversation) -> None:
        selected: Box | None = None
        await conversation.send(b"* OK scripted ready" + CRLF)
        while True:
            tag, _, rest = (await conversation.line()).decode().partition(" ")
            self.commands.append(rest)
            words = rest.split(" ")
            verb = " ".join(words[:2]).upper() if words[0].upper() == "UID" else words[0].upper()
            lines: list[bytes] = []
            status = "OK done"
            if verb == "CAPABILITY":
                lines = [b"* CAPABILITY IMAP4rev1" + (b" UIDPLUS" if self.uidplus else b"")]
            elif verb == "SELECT" and words[1].strip('"') in self.folders:
                selected = self.folders[words[1].strip('"')]
                lines = [b"* %d EXISTS" % len(selected.messages), b"* OK [UIDVALIDITY %d] ok" % selected.uidvalidity,
                         b"* OK [UIDNEXT %d] ok" % selected.uidnext]  # fmt: skip
            elif verb == "UID FETCH" and selected is not None:
                lines = _fetched(selected, words[2], rest.upper())
            elif verb == "UID COPY" and selected is not None and words[3].strip('"') in self.folders:
                target = self.folders[words[3].strip('"')]
                pairs = [(uid, target.add(selected.messages[uid][0])) for uid in _uids(selected, words[2])]
                if self.uidplus and pairs:
                    olds, news = (",".join(str(p[i]) for p in pairs) for i in (0, 1))
                    status = f"OK [COPYUID {target.uidvalidity} {olds} {news}] copied"
            elif verb == "UID STORE" and selected is not None and words[3].upper() == "+FLAGS.SILENT":
                for uid in _uids(selected, words[2]):
                    selected.messages[uid][1].update(re.findall(r"\\\w+", " ".join(words[4:])))
            elif ((verb == "UID EXPUNGE" and self.uidplus) or verb == "EXPUNGE") and selected is not None:
                chosen = _uids(selected, words[2]) if verb == "UID EXPUNGE" else sorted(selected.messages)
                for uid in [u for u in chosen if DELETED in selected.messages[u][1]]:
                    lines.append(b"* %d EXPUNGE" % (sorted(selected.messages).index(uid) + 1))
                    del selected.messages[uid]
            elif verb == "LOGOUT":
                await conversation.send(b"* BYE bye" + CRLF + tag.encode() + b" OK done" + CRLF)
                return
            elif verb != "LOGIN":
                status = "BAD unknown command"
            await conversation.send(
                b"".join(line + CRLF for line in lines) + f"{tag} {status}".encode() + CRLF
            )

    def on_server(self, folder: str) -> list[bytes]:
        return [raw for raw, _ in self.folders[folder].messages.values()]


def _uids(box: Box, uid_set: str) -> list[int]:
    wanted: set[int] = set()
    for part in uid_set.split(","):
        first, _, last = part.partition(":")
        low, high = int(first), (max(box.messages, default=0) if last == "*" else int(last or first))
        wanted |= set(range(low, high + 1))
    return sorted(wanted & set(box.messages))


def _fetched(box: Box, uid_set: str, items: str) -> list[bytes]:
    lines = []
    for number, uid in enumerate(sorted(box.messages), 1):
        if uid not in _uids(box, uid_set):
            continue
        raw, flags = box.messages[uid]
        flagged = " ".join(sorted(flags)).encode()
        if "BODY" in items:
            lines.append(
                b"* %d FETCH (UID %d FLAGS (%s) BODY[] {%d}\r\n%s)" % (number, uid, flagged, len(raw), raw)
            )
        elif "RFC822.SIZE" in items:
            lines.append(b"* %d FETCH (UID %d RFC822.SIZE %d)" % (number, uid, len(raw)))
        else:
            lines.append(b"* %d FETCH (UID %d FLAGS (%s))" % (number, uid, flagged))
    return lines


@pytest.fixture(params=[True, False], ids=["uidplus", "no-uidplus"])
def copy_only(request: pytest.FixtureRequest) -> Iterator[tuple[CopyOnly, HostileServer]]:
    script = CopyOnly(uidplus=request.param)
    with HostileServer(script) as server:
        yield script, server


async def test_s10_without_move_the_message_is_copied_and_only_it_expunged(
    world: FetchWorld, copy_only: tuple[CopyOnly, HostileServer]
) -> None:
    """#11, S10/A11: without MOVE but with UIDPLUS (Courier 5.0) a move to trash is UID COPY, UID
    STORE +FLAGS.SILENT (\\Deleted), UID EXPUNGE of that UID: the message is in the trash and out
    of INBOX, the stored copy follows it (COPYUID), and a message another client marked \\Deleted
    stays. Without UIDPLUS too, nothing at all is sent to the folder, and the change ends now (no
    retry) with a reason naming MOVE and UIDPLUS; the stored copy stays where it was."""
    script, server = copy_only
    inbox = script.folders["INBOX"]
    for index in range(2):
        inbox.add(message(index, "user@example.org"))
    marked = inbox.add(message(2, "user@example.org"), DELETED)  # by another client, not expunged yet
    account = await hostile_account(world, server)
    assert (await world.fetch(account)).reason is None
    first, second, _ = await world.stored(account)

    done = await apply_change(world.deps, MailboxChangeRequested(message_id=second.id,
                                                                  action=MailboxAction.MOVE_TO_TRASH))  # fmt: skip

    after = {m.id: m for m in await world.stored(account)}[second.id]
    sent = [c for c in script.commands if c.startswith(("UID COPY", "UID STORE", "UID EXPUNGE", "EXPUNGE"))]
    if script.uidplus:
        assert (done.outcome, done.reason) == (Outcome.DONE, None)
        assert script.on_server("Trash") == [second.raw]
        assert sorted(inbox.messages) == [1, marked]
        assert sent == ['UID COPY 2 "Trash"', "UID STORE 2 +FLAGS.SILENT (\\Deleted)", "UID EXPUNGE 2"]
        assert (after.folder, after.uidvalidity, after.uid) == ("Trash", 12, 1)
    else:
        assert done.outcome is Outcome.DONE, "permanent: not retried"
        assert done.reason is not None
        assert "MOVE" in done.reason
        assert "UIDPLUS" in done.reason
        assert (script.on_server("Trash"), sorted(inbox.messages), sent) == ([], [1, 2, marked], [])
        assert (after.folder, after.uid) == ("INBOX", 2)
    assert first.folder == "INBOX"


async def test_s10_without_move_a_message_gone_from_its_folder_is_not_moved(world: FetchWorld) -> None:
    """#11, S10: the message was taken away by another client since the last poll: nothing is
    copied or expunged, the change ends with a reason (no retry), the stored copy stays."""
    script = CopyOnly(uidplus=True)
    with HostileServer(script) as server:
        uid = script.folders["INBOX"].add(message(1, "user@example.org"))
        account = await hostile_account(world, server)
        await world.fetch(account)
        (stored,) = await world.stored(account)
        del script.folders["INBOX"].messages[uid]

        done = await apply_change(world.deps, MailboxChangeRequested(message_id=stored.id,
                                                                      action=MailboxAction.MOVE_TO_TRASH))  # fmt: skip

    assert done.outcome is Outcome.DONE
    assert done.reason is not None
    assert "no longer" in done.reason
    assert not [c for c in script.commands if c.startswith(("UID COPY", "UID STORE", "UID EXPUNGE"))]
    assert script.on_server("Trash") == []
    assert [(m.folder, m.uid) for m in await world.stored(account)] == [("INBOX", uid)]


async def test_s10_with_move_a_message_gone_from_its_folder_is_not_moved(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """#11, S10 on Dovecot (MOVE, UIDPLUS): a message expunged by another client since the last
    poll is not 'moved' (Dovecot answers a UID MOVE of nothing with OK): the change ends with a
    reason, the stored copy keeps its folder and UID instead of a trash entry without a UID."""
    world.stack.seed(mail_user.address, [message(1, mail_user.address)])
    account = await world.account(mail_user)
    await world.fetch(account)
    (stored,) = await world.stored(account)
    with world.stack.imap(mail_user) as imap:
        imap.select("INBOX")
        imap.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
        imap.expunge()

    done = await apply_change(world.deps, MailboxChangeRequested(message_id=stored.id,
                                                                  action=MailboxAction.MOVE_TO_TRASH))  # fmt: skip

    assert done.outcome is Outcome.DONE
    assert done.reason is not None
    assert "no longer" in done.reason
    assert [(m.folder, m.uid) for m in await world.stored(account)] == [("INBOX", 1)]
