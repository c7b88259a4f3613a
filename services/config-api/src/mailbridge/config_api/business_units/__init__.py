"""Business units (A4): the tenants mail is filed under."""
