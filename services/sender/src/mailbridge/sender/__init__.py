"""Mailbridge sender: builds outbox mail and sends it over SMTP (S3–S6, A6–A9)."""
