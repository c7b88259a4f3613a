"""#17: the shared limits' compare-and-set store in a dict (NATS KV's semantics, one process), for
unit tests of what counts against the limits without a NATS server."""


class MemoryStore:
    """A `shared_limits.CasStore`: a write succeeds only at the revision it read."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[bytes, int]] = {}

    async def read(self, key: str) -> tuple[bytes | None, int]:
        value, revision = self.values.get(key, (None, 0))
        return value, revision

    async def write(self, key: str, value: bytes, revision: int) -> bool:
        if self.values.get(key, (b"", 0))[1] != revision:
            return False
        self.values[key] = (value, revision + 1)
        return True
