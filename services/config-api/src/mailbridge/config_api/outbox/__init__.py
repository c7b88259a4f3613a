"""The outbox: sending mail (A6–A9), the outbox view (G3), lock after sending (G6)."""
