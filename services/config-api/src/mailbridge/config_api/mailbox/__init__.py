"""The mailbox read API: stored messages, their raw bytes, and G1 (hide mailbox)."""
