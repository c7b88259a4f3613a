"""The only modules that talk to SMTP and IMAP servers and the database."""
