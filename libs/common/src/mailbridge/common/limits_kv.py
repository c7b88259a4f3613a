"""The shared limits' store on NATS KV: one bucket, a value per counted thing, compare-and-set by
the key's revision (JetStream's expected-last-subject-sequence).

The bucket is declared here once (`limits_bucket_config`): `mailbridge setup` (and `mailbridge
run`) creates it with the streams, and every service still creates it when it is missing.

The bucket keeps values two days (`ttl`): a rate counted over a day needs its state that long; a
key no one wrote for longer is simply empty again, which for every state here means "nothing
counted". Gets are direct (`allow_direct`): answered without the JetStream API's round trip.
"""

from mailbridge.common.shared_limits import SharedLimits
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

LIMITS_BUCKET = "mailbridge_limits"
KEEP_S = 2 * 86_400.0


class KvStore:
    """`kv` now, or `bind` it once NATS is connected (a service builds its adapters first)."""

    def __init__(self, kv: KeyValue | None = None) -> None:
        self._bound = kv

    def bind(self, kv: KeyValue) -> None:
        self._bound = kv

    @property
    def _kv(self) -> KeyValue:
        if self._bound is None:
            raise RuntimeError("the limits bucket is not bound yet (NATS not connected)")
        return self._bound

    async def read(self, key: str) -> tuple[bytes | None, int]:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None, 0
        return entry.value, int(entry.revision or 0)

    async def write(self, key: str, value: bytes, revision: int) -> bool:
        try:
            await self._kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True


def limits_bucket_config(replicas: int = 1) -> KeyValueConfig:
    """The bucket's declaration, for the services and the set-up alike."""
    return KeyValueConfig(bucket=LIMITS_BUCKET, history=1, ttl=KEEP_S, replicas=replicas, direct=True)


async def limits_bucket(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    """The bucket, created when missing (the same configuration from every replica is harmless)."""
    try:
        return await js.key_value(LIMITS_BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(limits_bucket_config(replicas))


async def shared_limits(js: JetStreamContext, replicas: int = 1, lease_s: float = 60.0) -> SharedLimits:
    return SharedLimits(KvStore(await limits_bucket(js, replicas)), lease_s=lease_s)
