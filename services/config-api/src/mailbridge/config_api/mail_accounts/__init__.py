"""Mail accounts (A1–A12) of users and groups."""
