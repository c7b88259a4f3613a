"""Connect (O4): start the authorization-code flow for an account. msal makes the state, the
PKCE verifier and the nonce; the flow is stored encrypted under its state with a short expiry,
so whichever replica receives the callback can finish it. Old flows are swept here, cheaply."""

from mailbridge.common.oauth_requests import ConnectReply, ConnectRequest, ConnectStarted, FlowRefusal
from mailbridge.oauth_broker.flows import FlowDeps, oauth_account, refused
from mailbridge.oauth_broker.model import ProviderUnavailable, StoredFlow


async def start_connect(deps: FlowDeps, request: ConnectRequest) -> ConnectReply:
    found = await oauth_account(deps, request.account_id)
    if not isinstance(found, tuple):
        return found
    account, config = found
    now = deps.clock()
    await deps.flows.purge_expired(now)
    try:
        flow = await deps.provider.start_code_flow(config, request.redirect_uri, account.login)
    except ProviderUnavailable as error:
        return refused(account.account_id, FlowRefusal.UNAVAILABLE, str(error))
    expires_at = now + deps.flow_ttl
    await deps.flows.add(
        StoredFlow(str(flow["state"]), account.account_id, "code", flow, expires_at), request.redirect_uri
    )
    return ConnectStarted(
        account_id=account.account_id, authorization_url=str(flow["auth_uri"]), expires_at=expires_at
    )
