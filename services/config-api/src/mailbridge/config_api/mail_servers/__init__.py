"""Mail servers (S1–S13): where accounts send and receive."""
