"""OAuth 2.0 providers (O1): Microsoft 365 with default settings, or a generic OIDC issuer."""
