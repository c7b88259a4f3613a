"""Mailbridge OAuth broker: the only holder of OAuth tokens; answers the fetcher's and sender's
token requests (O1–O4; the Microsoft 365 connect flow and XOAUTH2 tokens come with #13)."""
