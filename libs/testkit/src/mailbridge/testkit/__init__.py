"""Real servers on loopback for Mailbridge's tests and benchmarks: NATS, databases, mail."""
