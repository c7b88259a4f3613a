"""#17: the arithmetic of shared limits (GCRA rates, pauses, connection slots) and the provider
presets as data."""

import pytest
from mailbridge.common.limit_rules import Pause, Rate, Slots, earliest, paused, taken
from mailbridge.common.provider_limits import PRESETS, LimitsPreset, ProviderLimits, effective_limits

PER_MINUTE = Rate(30, 60.0)  # Microsoft 365: 30 messages a minute per mailbox


def test_a_full_minute_goes_at_once_then_one_every_interval() -> None:
    tat, now = 0.0, 1000.0
    for _ in range(30):
        assert earliest(tat, now, 1, PER_MINUTE) == now
        tat = taken(tat, now, 1, PER_MINUTE)
    assert earliest(tat, now, 1, PER_MINUTE) == now + 2.0  # the 31st waits one interval
    assert earliest(tat, now + 60.0, 30, PER_MINUTE) == now + 60.0  # a minute later: all again


def test_a_cost_larger_than_the_rate_goes_when_the_bucket_is_empty() -> None:
    daily = Rate(10_000, 86_400.0)
    assert earliest(0.0, 5.0, 12_000, daily) == 5.0
    tat = taken(0.0, 5.0, 12_000, daily)
    assert earliest(tat, 5.0, 1, daily) > 5.0


def test_a_pause_never_ends_earlier_and_counts_strikes() -> None:
    first = paused(None, 100.0, 60.0)
    assert first == Pause(160.0, 1)
    again = paused(first, 110.0, 10.0)
    assert again == Pause(160.0, 2)  # a shorter pause does not end the longer one
    much_later = paused(again, 10_000.0, 60.0)
    assert much_later == Pause(10_060.0, 1)


def test_slots_expire_and_a_learned_limit_lasts_while_any_is_held() -> None:
    slots = Slots({"a": 10.0, "b": 30.0}, learned=2)
    assert not slots.live(5.0).fits(3)  # the server showed 2
    assert slots.live(20.0).holders == {"b": 30.0}
    assert slots.live(20.0).fits(3)
    assert slots.live(40.0) == Slots({}, None)  # nobody holds one: the learned limit is forgotten
    assert Slots({}).fits(None)


def test_presets_carry_the_published_limits() -> None:
    m365 = PRESETS[LimitsPreset.MICROSOFT365]
    assert (m365.smtp_connections_per_login, m365.imap_connections_per_login) == (3, 20)
    assert (m365.messages_per_minute_per_mailbox, m365.recipients_per_day_per_mailbox) == (30, 10_000)
    gmail = PRESETS[LimitsPreset.GMAIL]
    assert (gmail.messages_per_day_per_mailbox, gmail.recipients_per_day_per_mailbox) == (2_000, 10_000)


@pytest.mark.parametrize(
    ("preset", "overrides", "expected"),
    [
        (None, {}, ProviderLimits()),
        ("microsoft365", {"messages_per_minute_per_mailbox": 10, "imap_connections_per_login": None},
         ProviderLimits(3, 20, 10, None, 10_000, None)),
        (None, {"messages_per_minute_per_server": 100}, ProviderLimits(messages_per_minute_per_server=100)),
    ],
)  # fmt: skip
def test_a_server_overrides_its_preset(
    preset: str | None, overrides: dict[str, int | None], expected: ProviderLimits
) -> None:
    assert effective_limits(preset, overrides) == expected
