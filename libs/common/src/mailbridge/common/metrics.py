"""The Prometheus metrics every service exposes on /metrics (issue #15, Operations).

Names carry the `mailbridge_` prefix and base units (seconds, bytes); counters end in `_total`.
Labels are small closed sets (an outcome, a durable's name, a state, a route template): never an
address, a login, a host or an account id, so a scrape stays small and tells nobody who mails whom.

Each fetch and each send is counted once, where its use-case has its outcome (the subscribers),
not per message line: the hot path pays one dictionary look-up and an addition per command.
"""

from prometheus_client import Counter, Gauge, Histogram

# A fetch takes from a few milliseconds (no change) to minutes (a first fetch of a large mailbox).
FETCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
SEND_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

FETCHES = Counter(
    "mailbridge_fetches", "Fetches of an account by outcome: ok, partial, failed, skipped, busy, retry",
    ["outcome"],
)  # fmt: skip
FETCH_DURATION = Histogram(
    "mailbridge_fetch_duration_seconds", "How long one fetch of an account took, by outcome",
    ["outcome"], buckets=FETCH_BUCKETS,
)  # fmt: skip
MESSAGES_STORED = Counter("mailbridge_messages_stored", "Messages fetched and stored (new on the server)")
MESSAGE_BYTES_STORED = Counter(
    "mailbridge_messages_stored_bytes",
    "Bytes of fetched messages committed to the mail store (each message's raw size, once, at commit)",
)
SENDS = Counter(
    "mailbridge_sends", "Sends of an outbox mail by outcome: sent, failed, retry, nothing_to_do", ["outcome"]
)
SEND_DURATION = Histogram(
    "mailbridge_send_duration_seconds", "How long one send took, by outcome", ["outcome"],
    buckets=SEND_BUCKETS,
)  # fmt: skip
CONSUMER_PENDING = Gauge(
    "mailbridge_consumer_pending_messages",
    "Commands waiting for a durable consumer this service takes from (its lag), sampled on scrape",
    ["durable"],
)
CONSUMER_ACK_PENDING = Gauge(
    "mailbridge_consumer_ack_pending_messages",
    "Commands delivered to a durable consumer and not yet settled, sampled on scrape",
    ["durable"],
)
TOKEN_REQUESTS = Counter(
    "mailbridge_token_requests",
    "Access-token requests the OAuth broker answered, by answer: token, refused, unavailable",
    ["answer"],
)
TOKEN_REFRESHES = Counter(
    "mailbridge_token_refreshes", "Refreshes of an access token at the identity provider, by outcome",
    ["outcome"],
)  # fmt: skip
TOKEN_REFUSALS = Counter(
    "mailbridge_token_refusals", "Token requests refused, by kind (why no token was handed out)", ["kind"]
)
ACCOUNTS = Gauge(
    "mailbridge_accounts", "Mail accounts by state: ok, failing, needs_reconnect, unfetched", ["state"]
)
HTTP_REQUESTS = Counter(
    "mailbridge_http_requests", "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)  # fmt: skip
HTTP_DURATION = Histogram(
    "mailbridge_http_request_duration_seconds", "HTTP request duration by method and route template",
    ["method", "route"], buckets=HTTP_BUCKETS,
)  # fmt: skip
WEBHOOK_ATTEMPTS = Counter(
    "mailbridge_webhook_attempts",
    "Webhook delivery attempts by outcome: delivered, http_error, timeout, connect_error, refused_target",
    ["outcome"],
)
WEBHOOKS_DISABLED = Counter(
    "mailbridge_webhooks_disabled", "Webhook endpoints disabled because a delivery gave up (#18)"
)
