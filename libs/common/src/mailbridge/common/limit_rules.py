"""The arithmetic of shared limits, free of storage: rates (GCRA), pauses, connection slots.

A rate "`count` per `per_s` seconds" is kept as one number, the bucket's theoretical arrival time
(`tat`, GCRA as in ATM networks and most API gateways): each unit taken moves it `per_s / count`
later; `cost` units fit at time t when max(tat, t) + cost × interval − t ≤ per_s. So a full
minute's 30 mails may go at once, and then one every two seconds. A cost larger than `count` (a
mail with more recipients than the daily limit) goes when the bucket is empty, rather than never.

A pause (a provider's throttling answer) is a time before which nothing goes, and how many pauses
came in a row (`strikes`), so a provider that keeps throttling is left alone longer.

Connection slots are holders with an expiry: a holder renews its slots while it lives, so a
crashed replica's slots expire instead of leaking. `learned` is a lower limit a server showed by
refusing a connection: kept while any slot is held, forgotten once none is (the pool's rule).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    count: int
    per_s: float

    @property
    def interval(self) -> float:
        return self.per_s / self.count


def earliest(tat: float, now: float, cost: int, rate: Rate) -> float:
    """The first time `cost` units fit the bucket (now, or later)."""
    cost = min(cost, rate.count)
    return max(now, tat + cost * rate.interval - rate.per_s)


def taken(tat: float, at: float, cost: int, rate: Rate) -> float:
    """The bucket's arrival time after `cost` units were taken at `at`."""
    return max(tat, at) + min(cost, rate.count) * rate.interval


@dataclass(frozen=True)
class Pause:
    until: float
    strikes: int


def paused(previous: Pause | None, now: float, seconds: float) -> Pause:
    """A throttling answer: nothing before now + `seconds` (never earlier than a pause already set);
    a throttle within a pause or right after it counts as one more strike."""
    strikes = previous.strikes + 1 if previous and previous.until + seconds >= now else 1
    until = max(previous.until if previous else 0.0, now + seconds)
    return Pause(until, strikes)


@dataclass(frozen=True)
class Slots:
    holders: dict[str, float]  # slot id → expiry
    learned: int | None = None

    def live(self, now: float) -> "Slots":
        holders = {slot: expiry for slot, expiry in self.holders.items() if expiry > now}
        return Slots(holders, self.learned if holders else None)

    def bound(self, limit: int | None) -> int | None:
        bounds = [b for b in (limit, self.learned) if b is not None]
        return min(bounds) if bounds else None

    def fits(self, limit: int | None) -> bool:
        bound = self.bound(limit)
        return bound is None or len(self.holders) < bound
