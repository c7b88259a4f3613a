"""The broker's adapters: the only modules that hold tokens or talk to an identity provider."""
