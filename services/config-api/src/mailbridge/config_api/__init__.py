"""Mailbridge's configuration API: servers, settings, accounts, users, groups, OAuth providers."""
