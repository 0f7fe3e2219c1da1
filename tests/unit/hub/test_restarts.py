"""When ``ndxp up`` starts a part that exited again: back-off doubling to a ceiling, reset after a
long life, and a limit of restarts within a window."""

from __future__ import annotations

from services.core.config import UpSettings
from services.hub.parts import describe_exit
from services.hub.restarts import Restart, RestartPolicy

SETTINGS = UpSettings(
    restart_limit=5, restart_window=60, backoff_initial=0.5, backoff_max=4, stable_after=30
)


def test_the_delay_doubles_up_to_the_ceiling_while_the_part_dies_young() -> None:
    policy = RestartPolicy(SETTINGS)
    delays = [policy.after_exit(now=t, uptime=1) for t in (0, 2, 4, 8, 12)]
    assert delays == [Restart(0.5, 1), Restart(1, 2), Restart(2, 3), Restart(4, 4), Restart(4, 5)]


def test_one_more_exit_within_the_window_past_the_limit_gives_up() -> None:
    policy = RestartPolicy(SETTINGS)
    for t in range(5):
        assert policy.after_exit(now=t, uptime=1) is not None
    assert policy.after_exit(now=59, uptime=1) is None


def test_restarts_older_than_the_window_no_longer_count() -> None:
    policy = RestartPolicy(SETTINGS)
    for t in range(5):
        policy.after_exit(now=t, uptime=1)
    again = policy.after_exit(now=61.5, uptime=1)  # the first two were over 60 s ago
    assert again is not None
    assert again.number == 4


def test_a_part_that_ran_long_enough_starts_again_from_the_first_delay() -> None:
    policy = RestartPolicy(SETTINGS)
    for t in range(3):
        policy.after_exit(now=t, uptime=1)
    assert policy.after_exit(now=40, uptime=35) == Restart(0.5, 4)


def test_a_limit_of_zero_never_restarts() -> None:
    assert RestartPolicy(UpSettings(restart_limit=0)).after_exit(now=0, uptime=100) is None


def test_many_spread_out_deaths_keep_the_delay_at_the_ceiling() -> None:
    policy = RestartPolicy(SETTINGS)
    for n in range(2000):  # one every 20 s: never over the limit, never long-lived
        restart = policy.after_exit(now=n * 20.0, uptime=10)
        assert restart is not None
    assert restart.delay == SETTINGS.backoff_max


def test_exits_are_described_by_code_or_signal() -> None:
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(-15) == "signal SIGTERM"
