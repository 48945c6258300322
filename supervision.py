"""Keep a set of commands running in the foreground, and stop them in order when asked.

What `make run` needs and honcho does not do: a process that ends by itself is started
again after a backoff (1 s, doubling to 30 s, back to 1 s once it has run for a while)
while the others go on; Ctrl-C or SIGTERM stops the programs stage by stage (the web, then
the workers, then Redis), each with SIGTERM, then SIGKILL after a timeout. Each program
runs in a session of its own, so a Ctrl-C in the terminal reaches only this supervisor,
which decides the order; on Linux each also gets SIGTERM from the kernel if the supervisor
dies without stopping it (kill -9), so none outlives it holding the port. Their output is
relayed line by line, prefixed with their name.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

POLL_SECONDS = 0.1
# Longer than gunicorn's graceful_timeout (30 s, gunicorn.conf.py): a web process given
# SIGTERM finishes the requests it holds within that time, and is killed only after it.
STOP_TIMEOUT_SECONDS = 35.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _parent_death_signal() -> Callable[..., int] | None:
    """libc's prctl where there is one (Linux), resolved before any fork: a child between
    fork and exec should only call it, not load a library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _parent_death_signal()


@dataclass
class Program:
    """A command to keep running; programs of a lower `stage` are stopped first."""

    name: str
    command: str
    env: dict[str, str]
    cwd: Path
    stage: int = 0
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = 0.0
    relay: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:  # a real-time signal, or one Python has no name for
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def die_with_parent(parent: int) -> None:
    """In a child between fork and exec: ask the kernel for SIGTERM when the thread that
    forked it ends (the supervisor's main thread, so the supervisor), and end at once if the
    supervisor already has. A no-op where there is no prctl."""
    if _PRCTL is None:
        return
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # died before the request above: nothing would be sent
        os._exit(1)


class Supervisor:
    """Starts programs, restarts those that end, and stops them all in stage order."""

    def __init__(
        self,
        output: TextIO = sys.stdout,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
        steady_after: float = 60.0,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
        name_width: int = 0,
    ) -> None:
        self.output = output
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.steady_after = steady_after  # a run this long resets the backoff
        self.stop_timeout = stop_timeout
        self.programs: list[Program] = []
        self.stop_requested = False
        self.hurry = False  # a second Ctrl-C: kill what is still stopping
        self._lock = threading.RLock()
        self._width = name_width  # the prefixes line up

    def handle_signals(self) -> None:
        """Ctrl-C, SIGTERM and a closed terminal ask for an ordered stop; asked twice, the
        stop no longer waits."""

        def ask_to_stop(signum: int, frame: FrameType | None) -> None:
            if self.stop_requested:
                self.hurry = True
            self.stop_requested = True

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, ask_to_stop)

    def log(self, message: str) -> None:
        self._write(f"run: {message}")

    def start(self, program: Program) -> None:
        """Start `program` now and keep it running until the stop."""
        self.programs.append(program)
        self._width = max(self._width, len(program.name))
        program.backoff = self.first_backoff
        self._spawn(program)

    def supervise(self) -> None:
        """Until a stop is asked: start again, after its backoff, each program that ended."""
        while not self.stop_requested:
            now = time.monotonic()
            for program in self.programs:
                if program.restart_at is not None:
                    if now >= program.restart_at:
                        self._spawn(program)
                elif not program.running:
                    self._schedule_restart(program, now)
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Stop every program, a stage at a time: SIGTERM, then SIGKILL after the timeout."""
        for program in self.programs:
            program.restart_at = None
        for stage in sorted({program.stage for program in self.programs}):
            running = [p for p in self.programs if p.stage == stage and p.running]
            if not running:
                continue
            self.log(f"stopping {', '.join(p.name for p in running)}")
            for program in running:
                assert program.process is not None
                program.process.send_signal(signal.SIGTERM)
            self._wait_for(running)
            for program in running:
                self._kill_session(program)
                if program.relay is not None:
                    program.relay.join(2)  # its last lines before the next stage's
        for program in self.programs:  # those that had ended: their last lines too
            if program.relay is not None:
                program.relay.join(2)

    def _spawn(self, program: Program) -> None:
        """Start `program`. Called from the thread that supervises (the main thread in
        run.py): the kernel's parent-death signal follows the thread that forked, so a
        thread that ended sooner than the supervisor would take its programs with it."""
        program.restart_at = None
        program.started_at = time.monotonic()
        if program.relay is not None:
            program.relay.join(2)  # the last run's lines before this run's
        parent = os.getpid()
        program.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {program.command}"],
            cwd=program.cwd,
            env=program.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: die_with_parent(parent),
        )
        assert program.process.stdout is not None
        program.relay = threading.Thread(
            target=self._relay, args=(program.name, program.process.stdout), daemon=True
        )
        program.relay.start()
        self.log(f"{program.name} started (pid {program.process.pid})")

    def _schedule_restart(self, program: Program, now: float) -> None:
        assert program.process is not None
        self._kill_session(program)
        ran = now - program.started_at
        if ran >= self.steady_after:
            program.backoff = self.first_backoff
        delay = program.backoff
        program.backoff = min(delay * 2, self.max_backoff)
        program.restart_at = now + delay
        self.log(
            f"{program.name} {describe_exit(program.process.returncode)} after {ran:.1f} s; "
            f"restarting in {delay:g} s"
        )

    def _wait_for(self, programs: list[Program]) -> None:
        deadline = time.monotonic() + self.stop_timeout
        while any(p.running for p in programs):
            if self.hurry or time.monotonic() >= deadline:
                late = [p.name for p in programs if p.running]
                self.log(f"{', '.join(late)} did not stop in time; killing")
                return
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _kill_session(program: Program) -> None:
        """SIGKILL the program and whatever it left in its session (say gunicorn's workers
        after a crash of their master), so that nothing outlives it or holds its port."""
        assert program.process is not None
        with contextlib.suppress(ProcessLookupError):  # nothing left
            os.killpg(program.process.pid, signal.SIGKILL)
        program.process.wait()

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            self._write(f"{name:<{self._width}} | {line}")
        stream.close()

    def _write(self, line: str) -> None:
        with self._lock:
            self.output.write(line + "\n")
            self.output.flush()
