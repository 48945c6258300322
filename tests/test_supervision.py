"""The supervisor restarts what ends with a backoff, and stops stage by stage, on tiny programs."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from supervision import Program, Supervisor, describe_exit


def program(name: str, script: str, stage: int = 0) -> Program:
    return Program(name, f"sh -c '{script}'", dict(os.environ), Path.cwd(), stage)


def supervise_for(supervisor: Supervisor, seconds: float) -> list[str]:
    """Let `supervisor` run its programs for a while, stop them, and return its output."""
    thread = threading.Thread(target=supervisor.supervise)
    thread.start()
    time.sleep(seconds)
    supervisor.stop_requested = True
    thread.join(5)
    supervisor.stop()
    assert isinstance(supervisor.output, io.StringIO)
    return supervisor.output.getvalue().splitlines()


def restart_delays(lines: list[str], name: str) -> list[str]:
    pattern = re.compile(rf"^run: {name} exited with status 3 after \S+ s; restarting in (\S+) s")
    return [match.group(1) for match in map(pattern.match, lines) if match]


def test_a_program_that_ends_is_started_again_after_a_doubling_backoff() -> None:
    supervisor = Supervisor(io.StringIO(), first_backoff=0.1, max_backoff=0.4)
    supervisor.start(program("crash", "echo up; exit 3"))
    supervisor.start(program("steady", "while :; do sleep 0.05; done"))
    lines = supervise_for(supervisor, 2.5)

    assert restart_delays(lines, "crash")[:4] == ["0.1", "0.2", "0.4", "0.4"]
    starts = [line for line in lines if line.startswith("run: crash started")]
    ups = [line for line in lines if re.match(r"crash +\| up$", line)]
    # Every run said "up" (the stop joins every relay), but the last may have been stopped
    # before its echo.
    assert len(starts) - 1 <= len(ups) <= len(starts)
    assert len([line for line in lines if line.startswith("run: steady started")]) == 1


def test_the_backoff_starts_over_after_a_long_enough_run() -> None:
    supervisor = Supervisor(io.StringIO(), first_backoff=0.1, max_backoff=1, steady_after=0.2)
    supervisor.start(program("slow", "sleep 0.3; exit 3"))
    lines = supervise_for(supervisor, 1.5)

    delays = restart_delays(lines, "slow")
    assert len(delays) >= 2 and set(delays) == {"0.1"}


def test_the_stop_goes_stage_by_stage_and_kills_what_does_not_stop() -> None:
    supervisor = Supervisor(io.StringIO(), stop_timeout=0.5)
    polite = 'trap "echo leaving; exit 0" TERM; while :; do sleep 0.05; done'
    stubborn = 'trap "" TERM; while :; do sleep 0.05; done'
    supervisor.start(program("last", polite, stage=2))
    supervisor.start(program("stubborn", stubborn, stage=1))
    supervisor.start(program("first", polite, stage=0))
    lines = supervise_for(supervisor, 0.3)

    order = [
        "run: stopping first",
        "first    | leaving",
        "run: stopping stubborn",
        "run: stubborn did not stop in time; killing",
        "run: stopping last",
        "last     | leaving",
    ]
    assert [line for line in lines if line in order] == order
    assert not any(p.running for p in supervisor.programs)


class SlowRelay(Supervisor):
    """Relays the line `slow` late, as when the scheduler leaves a relay thread waiting."""

    def _write(self, line: str) -> None:
        if line.endswith("| slow"):
            time.sleep(0.5)
        super()._write(line)


def test_the_last_lines_of_a_program_that_ended_are_relayed_before_the_stop_returns() -> None:
    supervisor = SlowRelay(io.StringIO(), first_backoff=60)
    supervisor.start(program("ended", "echo slow; exit 3"))
    lines = supervise_for(supervisor, 0.2)
    assert "ended | slow" in lines


@pytest.mark.parametrize(
    ("returncode", "described"),
    [
        (3, "exited with status 3"),
        (-signal.SIGKILL, "was killed by SIGKILL"),
        (-35, "was killed by signal 35"),
        (-40, "was killed by signal 40"),
    ],
)
def test_every_exit_is_described_real_time_signals_too(returncode: int, described: str) -> None:
    assert describe_exit(returncode) == described
