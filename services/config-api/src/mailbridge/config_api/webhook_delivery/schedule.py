"""When a failed webhook delivery is tried again (#18): a fixed list of delays, then give up."""

from dataclasses import dataclass

# Standard Webhooks' habit, stretched to a day: 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 7 h (24.6 h).
DEFAULT_DELAYS_S = (60.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 25200.0)


@dataclass(frozen=True)
class RetrySchedule:
    delays_s: tuple[float, ...] = DEFAULT_DELAYS_S

    def delay_after(self, failed_attempts: int) -> float | None:
        """Seconds until the next attempt after `failed_attempts` failures; None: give up."""
        if 1 <= failed_attempts <= len(self.delays_s):
            return self.delays_s[failed_attempts - 1]
        return None
