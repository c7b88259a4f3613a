"""Webhooks (#18): the business app's endpoints, their signing secrets, the delivery log, resend."""
