"""Webhook delivery (#18): events from NATS recorded as deliveries, then delivered from the database.

The order of effects: an event arrives on the shared durable `config-api-webhooks` → one delivery
row per matching endpoint is committed → only then is the event acked (`intake`). Every replica's
`worker` claims due deliveries with a lease in the database, posts them (`http_post`: the target
re-checked and connected at its checked address) and records the attempt and the next one
(`schedule`), until delivered or given up (the endpoint is then disabled with the reason). So a
restart or a dead replica loses nothing, and retries for a day never ride on NATS redelivery.
"""
