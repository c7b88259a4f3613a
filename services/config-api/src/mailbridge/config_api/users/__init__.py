"""Users of the business application: they own mail accounts and are scoped by user keys."""
