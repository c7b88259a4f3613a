"""Mailbridge's shared library: settings, database, secrets, events, NATS wiring, logging."""
