"""Mailbridge fetcher: downloads mail over IMAP, IMAP download and POP3 into the mail store."""
