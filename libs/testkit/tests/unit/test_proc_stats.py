"""A process's CPU and peak memory as the benchmarks read them from /proc."""

import os
import time

from mailbridge.testkit.proc_stats import cpu_seconds, peak_rss_mb, reset_peak_rss


def test_cpu_grows_with_work_and_peak_memory_with_what_was_held() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:  # 0.1 s of CPU, at least 10 clock ticks
        pass
    assert cpu_seconds(os.getpid()) > before
    held = bytearray(64 * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])  # touch every page: resident, not just reserved
    assert peak_rss_mb(os.getpid()) >= 64


def test_a_reset_peak_starts_from_what_is_resident_now() -> None:
    held = bytearray(64 * 1024 * 1024)
    held[::4096] = b"x" * len(held[::4096])
    peak = peak_rss_mb(os.getpid())
    del held
    reset_peak_rss(os.getpid())
    assert peak_rss_mb(os.getpid()) < peak - 32, "the 64 MB given back no longer count"
