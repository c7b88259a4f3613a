"""The only modules that talk to mail servers and the database."""
