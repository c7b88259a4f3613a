"""What the connect, callback and device use-cases share (O4): their dependencies, which
provider an account signs in with, and the last step — the signed-in mailbox must be the
account's login, else nothing is stored."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.common.db.types import utcnow
from mailbridge.common.oauth_requests import ConnectFinished, ConnectRefused, FlowRefusal
from mailbridge.oauth_broker.decisions import same_mailbox, signed_in_mailbox
from mailbridge.oauth_broker.model import AccountView, Tokens
from mailbridge.oauth_broker.ports import FlowStore, GrantStore, IdentityProvider
from mailbridge.oauth_broker.providers import InstallationApp, ProviderConfig, provider_config


@dataclass(frozen=True)
class FlowDeps:
    grants: GrantStore
    flows: FlowStore
    provider: IdentityProvider
    installation: InstallationApp
    flow_ttl: timedelta
    clock: Callable[[], datetime] = utcnow


def refused(account_id: uuid.UUID | None, error: FlowRefusal, detail: str) -> ConnectRefused:
    return ConnectRefused(account_id=account_id, error=error, detail=detail)


async def oauth_account(
    deps: FlowDeps, account_id: uuid.UUID
) -> tuple[AccountView, ProviderConfig] | ConnectRefused:
    """The account and its provider's msal configuration, or NOT_OAUTH saying why not."""
    account = (await deps.grants.custody(account_id)).account
    if account is None:
        return refused(account_id, FlowRefusal.NOT_OAUTH, "no such mail account")
    if account.provider is None:
        detail = "the account's mail server has no OAuth provider (S2): it signs in with a password"
        return refused(account_id, FlowRefusal.NOT_OAUTH, detail)
    config = provider_config(account.provider, deps.installation)
    if isinstance(config, str):
        return refused(account_id, FlowRefusal.NOT_OAUTH, config)
    return account, config


async def keep_if_same_mailbox(
    deps: FlowDeps, account: AccountView, tokens: Tokens
) -> ConnectFinished | ConnectRefused:
    """Store the grant only when the mailbox that signed in is the account's login (O4)."""
    signed_in = signed_in_mailbox(tokens.id_token_claims)
    if not same_mailbox(signed_in, account.login):
        detail = (
            f"signed in as {signed_in or 'an unnamed account'}, but this account's mailbox is "
            f"{account.login}: connect again and sign in as {account.login}"
        )
        return refused(account.account_id, FlowRefusal.WRONG_MAILBOX, detail)
    await deps.grants.connect(account.account_id, tokens)
    return ConnectFinished(account_id=account.account_id, login=account.login)
