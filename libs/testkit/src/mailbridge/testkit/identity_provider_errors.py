"""The local identity provider's error answer, shared by its grants and its device codes."""


class OAuthError(Exception):
    """An OAuth error answer: `error` (RFC 6749 §5.2), `description` and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
