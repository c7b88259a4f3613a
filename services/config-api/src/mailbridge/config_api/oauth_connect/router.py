"""Route: POST /mail-accounts/{id}/oauth/connect (O4) → the provider's authorization URL.

Who may connect: whoever may see the account — an admin, the account's user, or a member of the
account's group (a shared mailbox is connected by someone who shares it). Starting a flow grants
nothing: the broker stores a grant only when the person signs in at the provider as the account's
own login, so the sign-in, not this route, proves control of the mailbox.
"""

import uuid
from datetime import datetime

from fastapi import APIRouter
from mailbridge.common.db.tables import MailServer
from mailbridge.config_api import crud
from mailbridge.config_api.deps import CtxDep
from mailbridge.config_api.errors import Conflict
from mailbridge.config_api.mail_accounts.service import MailAccounts
from mailbridge.config_api.oauth_connect.broker import BrokerDep, start_connect
from mailbridge.config_api.oauth_connect.redirect import redirect_uri
from mailbridge.config_api.problems import PROBLEM_RESPONSES, problem_docs
from pydantic import BaseModel

router = APIRouter(tags=["mail accounts"], responses=PROBLEM_RESPONSES)
accounts = MailAccounts()


class ConnectOut(BaseModel):
    authorization_url: str  # open it in a browser and sign in as the account's login
    expires_at: datetime  # the flow is forgotten then: connect again


@router.post(
    "/mail-accounts/{account_id}/oauth/connect", operation_id="connect_mail_account",
    responses=problem_docs(502, 503),
)  # fmt: skip
async def connect(ctx: CtxDep, broker: BrokerDep, account_id: uuid.UUID) -> ConnectOut:
    """Start the authorization-code flow (PKCE) for an account on a server with an OAuth provider
    (409 otherwise, S2); 503 with Retry-After while the broker cannot be reached."""
    account = await crud.get_row(accounts, ctx, account_id)
    server = await ctx.session.get(MailServer, account.server_id)
    if server is None or server.oauth_provider_id is None:
        raise Conflict(
            f"mail account {account_id} is on a server without an OAuth provider: it logs in with "
            "its password (S2, A3)"
        )
    await ctx.session.close()  # no database transaction is held while the broker answers
    started = await start_connect(broker, account_id, redirect_uri(ctx.public_url))
    return ConnectOut(authorization_url=started.authorization_url, expires_at=started.expires_at)
