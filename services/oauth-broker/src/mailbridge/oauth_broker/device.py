"""The device-code flow (RFC 8628) for headless set-ups (`mailbridge oauth connect --device`):
start it and store msal's flow (with the device code) encrypted under a new random id; each
poll asks the provider once and answers pending, connected, or why not."""

import secrets
from datetime import UTC, datetime

from mailbridge.common.oauth_requests import (
    DeviceFlowStarted,
    DevicePending,
    DevicePollReply,
    DevicePollRequest,
    DeviceStartReply,
    DeviceStartRequest,
    FlowRefusal,
)
from mailbridge.oauth_broker.decisions import device_refusal, expired, provider_reason
from mailbridge.oauth_broker.flows import FlowDeps, keep_if_same_mailbox, oauth_account, refused
from mailbridge.oauth_broker.model import ProviderError, ProviderUnavailable, StoredFlow

UNKNOWN = "no device flow has this id: it was never started, is finished already, or expired long ago"


async def start_device_flow(deps: FlowDeps, request: DeviceStartRequest) -> DeviceStartReply:
    found = await oauth_account(deps, request.account_id)
    if not isinstance(found, tuple):
        return found
    account, config = found
    await deps.flows.purge_expired(deps.clock())
    try:
        flow = await deps.provider.start_device_flow(config)
    except ProviderUnavailable as error:
        return refused(account.account_id, FlowRefusal.UNAVAILABLE, str(error))
    if isinstance(flow, ProviderError):
        detail = f"the identity provider refused the device flow: {provider_reason(flow)}"
        return refused(account.account_id, FlowRefusal.CONSENT_DENIED, detail)
    flow_id = secrets.token_urlsafe(24)
    expires_at = datetime.fromtimestamp(float(flow["expires_at"]), UTC)  # msal: now + expires_in
    await deps.flows.add(StoredFlow(flow_id, account.account_id, "device", flow, expires_at), None)
    return DeviceFlowStarted(
        account_id=account.account_id, flow_id=flow_id, user_code=str(flow["user_code"]),
        verification_uri=str(flow.get("verification_uri") or flow.get("verification_url") or ""),
        message=str(flow.get("message") or ""), expires_at=expires_at,
        interval_s=int(flow.get("interval") or 5),
    )  # fmt: skip


async def poll_device_flow(deps: FlowDeps, request: DevicePollRequest) -> DevicePollReply:
    flow_id = request.flow_id
    stored = await deps.flows.get(flow_id)
    if stored is None or stored.kind != "device":
        return refused(None, FlowRefusal.STATE_UNKNOWN, UNKNOWN)
    account_id = stored.account_id
    if expired(stored.expires_at, deps.clock()):
        await deps.flows.take(flow_id)
        return refused(account_id, FlowRefusal.FLOW_EXPIRED, "the device code expired: start again")
    found = await oauth_account(deps, account_id)
    if not isinstance(found, tuple):
        return found
    account, config = found
    try:
        result = await deps.provider.poll_device_flow(config, stored.flow)
    except ProviderUnavailable as error:
        return refused(account_id, FlowRefusal.UNAVAILABLE, str(error))
    if isinstance(result, ProviderError):
        refusal = device_refusal(result)
        if refusal is None:
            return DevicePending(flow_id=flow_id)
        await deps.flows.take(flow_id)
        return refused(account_id, refusal, f"the identity provider said: {provider_reason(result)}")
    if not await deps.flows.take(flow_id):
        return refused(account_id, FlowRefusal.STATE_UNKNOWN, UNKNOWN)
    return await keep_if_same_mailbox(deps, account, result)
