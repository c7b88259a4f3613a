"""Applies API changes to the IMAP server: \\Seen both ways (read here → read there) and moves
to the account's trash or spam folder (S10, A11), keeping the stored copy's identity right."""

from functools import partial

from mailbridge.common.endpoints import Endpoint, IncomingProtocol
from mailbridge.common.events import MailboxAction, MailboxChangeRequested
from mailbridge.fetcher.credentials import signed_in
from mailbridge.fetcher.failures import FetchFailure
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, Result
from mailbridge.fetcher.model import LeaseLost


async def apply_change(deps: FetchDeps, command: MailboxChangeRequested) -> Result:
    message = await deps.store.message_location(command.message_id)
    if message is None or message.uid is None:
        return Result(Outcome.SKIPPED, "the message is gone or has no IMAP identity")
    account = await deps.store.load_account(message.account_id)
    if account is None or account.protocol is not IncomingProtocol.IMAP:
        return Result(Outcome.SKIPPED, "only IMAP accounts synchronise changes to the server")
    lease = await deps.store.acquire_lease(account.account_id, deps.holder, deps.limits.lease_ttl)
    if lease is None:
        return Result(Outcome.BUSY, "a fetch of this account is running")
    endpoint = Endpoint(account.host, account.port, account.security, deps.ssl_context, deps.timeout_s)
    try:
        imap_login = partial(deps.connections.logged_in, account, endpoint)
        async with signed_in(account, deps.tokens, imap_login) as imap:
            status = await imap.select(message.folder)
            if status.uidvalidity != message.uidvalidity:
                return Result(Outcome.SKIPPED, "the folder was re-based; the next sync settles it")
            if command.action in (MailboxAction.MARK_SEEN, MailboxAction.MARK_UNSEEN):
                await imap.set_seen(message.uid, command.action is MailboxAction.MARK_SEEN)
                return Result(Outcome.DONE)
            target = (
                account.trash_folder if command.action is MailboxAction.MOVE_TO_TRASH else account.spam_folder
            )
            identity = await imap.move(message.uid, target)
            uidvalidity, uid = identity if identity else (None, None)
            await deps.store.moved(lease, deps.limits.lease_ttl, message.id, target, uidvalidity, uid)
            return Result(Outcome.DONE)
    except FetchFailure as failure:
        return Result(Outcome.RETRY if failure.retryable else Outcome.DONE, failure.reason)
    except LeaseLost as lost:
        return Result(Outcome.BUSY, str(lost))
    finally:
        await deps.store.release_lease(lease)
