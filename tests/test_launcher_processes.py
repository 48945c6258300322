"""`python run.py` for real: it restarts what crashes, refuses a taken port, stops in order."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from shared.config.settings import PROJECT_ROOT, load_settings
from shared.store.db import Database, init_database
from tests.stack import free_port, wait_until


class Launch:
    """The launcher with its own port, Redis port (it starts that Redis), SQLite file and
    data directory, in a session of its own as in a terminal; its output kept line by line."""

    def __init__(self, directory: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.redis_url = f"redis://127.0.0.1:{free_port()}/0"
        env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": f"sqlite:///{directory / 'atm.db'}",
            "ATM_DATA_DIR": str(directory),
            "WEB_CONCURRENCY": "1",
            "ATM_PARTITIONS": "2",
            "ATM_LEASE_SECONDS": "3",
            "ATM_SYNC_WAIT_SECONDS": "20",
            "FLASK_SKIP_DOTENV": "1",
            **env,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "run.py")],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first output line that matches `pattern`, once there is one."""

        def found() -> re.Match[str] | None:
            if self.process.poll() is not None and not any(map(regex.search, self.lines)):
                raise AssertionError(f"the launcher ended without {pattern!r}:\n{self.output}")
            return next(filter(None, map(regex.search, self.lines)), None)

        regex = re.compile(pattern)
        try:
            return wait_until(found, timeout, pattern, interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output}") from None

    def processes(self, argument: str) -> set[int]:
        """The launcher's descendants whose command line has `argument`."""
        return {pid for pid, arguments in self.descendants().items() if argument in arguments}

    def descendants(self) -> dict[int, list[str]]:
        """Every process the launcher started, directly or not, with its command line."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except (OSError, ValueError):
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found: dict[int, list[str]] = {}
        pending = [self.process.pid]
        while pending:
            for pid in children.get(pending.pop(), []):
                pending.append(pid)
                try:
                    arguments = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                found[pid] = [argument.decode(errors="replace") for argument in arguments]
        return found

    def wait(self, timeout: float) -> int:
        """The exit status, once the launcher ended and all it wrote is read."""
        status = self.process.wait(timeout)
        self.reader.join(10)
        return status

    def interrupt(self, timeout: float = 45) -> int:
        """Ctrl-C, as a terminal sends it (to the whole foreground group); the exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.wait(timeout)

    def redis_answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.redis_url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def end(self) -> None:
        """Whatever happened, leave nothing running."""
        if self.process.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.redis_answers():
            redis.Redis.from_url(self.redis_url).shutdown(nosave=True)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    running = Launch(tmp_path)
    try:
        yield running
    finally:
        running.end()


def deposit(base_url: str, amount: int) -> requests.Response:
    return requests.post(f"{base_url}/accounts/10001/deposit", json={"amount": amount}, timeout=30)


def test_a_killed_worker_is_restarted_while_the_api_keeps_serving(launch: Launch) -> None:
    ready = launch.wait_for(r"ready.*http://127\.0\.0\.1:\d+/").string
    assert f"{launch.base_url}/docs" in ready and f"{launch.base_url}/console" in ready
    assert deposit(launch.base_url, 10).status_code == 200
    (worker,) = launch.processes("worker")

    os.kill(worker, signal.SIGKILL)
    launch.wait_for(r"worker\S* was killed by SIGKILL .*restarting", timeout=10)
    balance = requests.get(f"{launch.base_url}/accounts/10001/balance", timeout=10)
    assert balance.status_code == 200  # the API answers while the worker is down
    (restarted,) = wait_until(lambda: launch.processes("worker"), 15, "the worker's restart")
    assert restarted != worker

    after = deposit(launch.base_url, 5)  # applied by the restarted worker
    assert after.status_code == 200, after.text
    assert after.json()["data"]["new_balance"] == 5015.0
    assert launch.process.poll() is None


def test_ctrl_c_stops_web_then_workers_then_redis_and_exits_0(launch: Launch) -> None:
    launch.wait_for(r"^run: ready")
    assert launch.redis_answers()

    assert launch.interrupt() == 0, launch.output
    assert not launch.redis_answers()
    for complaint in ("could not release partition leases", "completion subscription lost"):
        assert complaint not in launch.output  # Redis was still there for them
    web, workers, redis_stop = (
        next(i for i, line in enumerate(launch.lines) if re.search(pattern, line))
        for pattern in (r"^run: stopping web", r"^run: stopping worker", r"^run: stopping redis")
    )
    assert web < workers < redis_stop, launch.output
    assert launch.lines[-1] == "run: stopped"


def test_a_port_in_use_stops_the_start_at_once_naming_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        launch = Launch(tmp_path, PORT=str(port))
        try:
            status = launch.wait(10)
        finally:
            launch.end()
    assert status != 0
    assert f"run: port {port} on 127.0.0.1 is in use; set PORT=" in launch.output
    assert not launch.redis_answers()  # nothing was started
    assert "Redis" not in launch.output


def running(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal")
def test_a_launcher_killed_with_sigkill_takes_its_processes_with_it(launch: Launch) -> None:
    launch.wait_for(r"^run: ready")  # the web idle: no request to finish first
    started = launch.descendants()
    for name in ("gunicorn", "worker", "worker.sender", "redis-server"):
        assert any(name in " ".join(arguments) for arguments in started.values()), started

    os.kill(launch.process.pid, signal.SIGKILL)
    launch.wait(10)
    try:
        try:
            # Each ends through its own shutdown on the kernel's SIGTERM; a Celery worker whose
            # broker went down in the same moment can spend several seconds in its warm
            # shutdown (once over 10 s in CI), so this waits as long as the launcher's own stop.
            wait_until(lambda: not any(map(running, started)), 35, "the launcher's processes")
        except AssertionError as timeout:  # name them, for the report
            left = {pid: (started[pid], _threads_state(pid)) for pid in started if running(pid)}
            stacks = "".join(map(_python_stacks, left))
            raise AssertionError(f"{timeout} to end; still running: {left}{stacks}") from timeout
    finally:
        for pid in filter(running, started):  # whatever the test found left over
            os.kill(pid, signal.SIGKILL)
    assert not launch.redis_answers()
    with socket.socket() as probe:  # nothing holds the API's port
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", launch.port))


def _python_stacks(pid: int) -> str:
    """Every thread's Python stack in a process, by py-spy (from requirements-dev.txt), for
    the report of a process that did not end: the kernel's view says only that a thread
    waits, this says in which line."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        return f"\n(py-spy is not installed: no Python stacks of {pid})"
    dump = subprocess.run(
        [str(py_spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
    )
    return f"\n--- py-spy dump of {pid} (exit {dump.returncode}):\n{dump.stdout}{dump.stderr}"


def _threads_state(pid: int) -> list[str]:
    """What each thread of a process is doing, as the kernel says (its state and the call it
    waits in), for the report of a process that did not end."""
    states = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            status = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            states.append(f"{task.name} {status} {(task / 'wchan').read_text() or '-'}")
        except OSError:
            continue
    return states


def test_without_atm_partitions_every_process_takes_the_databases_count(tmp_path: Path) -> None:
    """A database made with 2 partitions (as an earlier release's default made one with 8),
    and the launcher started without ATM_PARTITIONS, whose default is another count: the
    launcher, its web processes and its worker all take the database's 2, none refuses to
    start, and a deposit is applied."""
    made = Database(
        load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}", "ATM_PARTITIONS": "2"})
    )
    assert init_database(made) == 2
    made.close()
    launch = Launch(tmp_path, ATM_PARTITIONS="")  # blank: unset
    try:
        launch.wait_for(r"^run: ready")
        assert re.search(r"database sqlite:///\S+, 2 partitions", launch.output)
        assert deposit(launch.base_url, 10).status_code == 200
        leases = redis.Redis.from_url(launch.redis_url).keys("atm:lease:*")
        assert sorted(leases) == [b"atm:lease:0", b"atm:lease:1"]
    finally:
        launch.end()
