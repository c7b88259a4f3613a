"""Connecting an account to its OAuth provider (O4): the connect route and the browser's callback
page; the broker (NATS request/reply) alone starts flows, redeems codes and holds tokens."""
