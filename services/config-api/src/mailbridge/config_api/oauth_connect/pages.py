"""The page the browser sees after the provider's redirect (O4): what happened, in plain words.

Pure: a broker reply becomes a status and two sentences. The page never repeats the query (the
code is a secret for a few minutes) and escapes every word that came from elsewhere.
"""

import html
import uuid
from dataclasses import dataclass

from mailbridge.common.oauth_requests import CallbackReply, ConnectFinished, FlowRefusal

OBTAINED = "Authorisation code obtained — you can close this window"
RETRY_AFTER_S = 10

# What the person reads for each refusal; the broker's detail follows it.
HEADLINES: dict[FlowRefusal, str] = {
    FlowRefusal.CONSENT_DENIED: "The permissions were not granted (consent denied)",
    FlowRefusal.WRONG_MAILBOX: "Signed in with the wrong mailbox",
    FlowRefusal.FLOW_EXPIRED: "This sign-in took too long (the flow expired)",
    FlowRefusal.STATE_UNKNOWN: "This sign-in is unknown (state unknown)",
    FlowRefusal.CODE_REJECTED: "The provider rejected the authorisation code",
    FlowRefusal.NOT_OAUTH: "The account cannot be connected",
    FlowRefusal.BAD_REQUEST: "This is not a sign-in callback",
    FlowRefusal.UNAVAILABLE: "The connection service is unavailable",
}
NEXT_STEP: dict[FlowRefusal, str] = {
    FlowRefusal.WRONG_MAILBOX: "Connect again and sign in as the account's own mailbox.",
    FlowRefusal.UNAVAILABLE: f"Nothing was stored. Try again in {RETRY_AFTER_S} seconds.",
}
CONNECT_AGAIN = "Nothing was stored. Start the connection again from Mailbridge."
CONSOLE_ACCOUNT = "/console/mail-accounts/{account_id}"  # the account's page in the admin console (#16)
BACK = "Back to the account in the Mailbridge console"


@dataclass(frozen=True)
class CallbackPage:
    status: int
    heading: str
    text: str
    account_id: uuid.UUID | None = None  # the account connected: its console page is linked

    @property
    def retry_after_s(self) -> int | None:
        return RETRY_AFTER_S if self.status == 503 else None


def page_for(reply: CallbackReply) -> CallbackPage:
    """200 once connected, 503 while the broker or provider cannot answer, else 400."""
    if isinstance(reply, ConnectFinished):
        return CallbackPage(
            200, OBTAINED, f"The mailbox {reply.login} is connected to Mailbridge.", reply.account_id
        )
    status = 503 if reply.error is FlowRefusal.UNAVAILABLE else 400
    text = f"{reply.detail.rstrip('.')}. {NEXT_STEP.get(reply.error, CONNECT_AGAIN)}"
    return CallbackPage(status, HEADLINES[reply.error], text, reply.account_id)


def render(page: CallbackPage) -> str:
    heading, text = html.escape(page.heading), html.escape(page.text)
    back = (
        f'<p><a href="{CONSOLE_ACCOUNT.format(account_id=page.account_id)}">{BACK}</a></p>\n'
        if page.account_id is not None
        else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Mailbridge: {heading}</title>\n</head>\n"
        f"<body>\n<h1>{heading}</h1>\n<p>{text}</p>\n{back}</body>\n</html>\n"
    )
