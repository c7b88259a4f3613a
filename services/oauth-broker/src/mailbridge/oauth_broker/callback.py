"""The callback (O4): the query the provider redirected the browser with → connected, or why not.

Order: find the flow by `state` (none: unknown or already used) → expired? → the provider's own
error (consent denied) → take the flow (a DELETE only one caller wins: a replayed or doubled
callback cannot redeem twice) → redeem the code with the stored PKCE verifier and nonce → the
signed-in mailbox must be the account's login → store the grant.
"""

from mailbridge.common.oauth_requests import CallbackReply, CallbackRequest, FlowRefusal
from mailbridge.common.printable import printable
from mailbridge.oauth_broker.decisions import expired, provider_reason
from mailbridge.oauth_broker.flows import FlowDeps, keep_if_same_mailbox, oauth_account, refused
from mailbridge.oauth_broker.model import ProviderError, ProviderUnavailable

UNKNOWN = "no connect flow has this state: it was never started here, is finished already, or was forged"


async def finish_callback(deps: FlowDeps, request: CallbackRequest) -> CallbackReply:
    params = request.params
    state = params.get("state", "")
    stored = await deps.flows.get(state) if state else None
    if stored is None or stored.kind != "code":
        return refused(None, FlowRefusal.STATE_UNKNOWN, UNKNOWN)
    account_id = stored.account_id
    if expired(stored.expires_at, deps.clock()):
        await deps.flows.take(state)
        return refused(
            account_id, FlowRefusal.FLOW_EXPIRED, "the connect flow expired: connect the account again"
        )
    if "error" in params:
        await deps.flows.take(state)
        words = printable(params.get("error_description") or params["error"], 500)
        return refused(account_id, FlowRefusal.CONSENT_DENIED, f"the identity provider said: {words}")
    if not await deps.flows.take(state):
        return refused(account_id, FlowRefusal.STATE_UNKNOWN, UNKNOWN)
    found = await oauth_account(deps, account_id)
    if not isinstance(found, tuple):
        return found
    account, config = found
    try:
        result = await deps.provider.redeem_code(config, stored.flow, params)
    except ProviderUnavailable as error:
        return refused(account_id, FlowRefusal.UNAVAILABLE, str(error))
    if isinstance(result, ProviderError):
        detail = f"the identity provider refused the code: {provider_reason(result)}"
        return refused(account_id, FlowRefusal.CODE_REJECTED, detail)
    return await keep_if_same_mailbox(deps, account, result)
