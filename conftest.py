"""Test set-up shared by every package: real databases, NATS and mail servers."""

pytest_plugins = ["mailbridge.testkit.fixtures"]
