"""Configuration read once from the environment; a bad value fails at start, naming the variable."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'atm.db'}"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = "redis://127.0.0.1:6379/0"
    partitions: int = 8
    sync_wait_seconds: float = 10.0
    max_wait_seconds: float = 30.0
    max_amount_cents: int = 100_000_000
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch: int = 10_000
    lease_seconds: float = 10.0
    apply_chunk: int = 2000
    recovery_seconds: float = 60.0
    idempotency_ttl_seconds: float = 24 * 3600.0
    max_backlog: int = 1_000_000
    max_redis_memory_fraction: float = 0.9
    sqlite_synchronous: str = "FULL"
    sqlite_busy_timeout_ms: int = 30_000
    seed_sample_accounts: bool = True
    # Serving: where the API listens (loopback unless told otherwise: the service is open to
    # anyone who can reach the port), and with how many gunicorn processes.
    host: str = "127.0.0.1"
    port: int = 5000
    web_processes: int = 2
    # How long a client may take to send a request's headers, and then its body.
    header_timeout_seconds: int = 5  # whole seconds, as gunicorn takes it
    body_timeout_seconds: float = 10.0
    # Connections one web process holds (each a file descriptor), and how many of them may
    # wait for an outcome at once; past that they are answered at once. Connections are
    # not shared out evenly between processes, hence the room above half of 10,000 each.
    web_connections: int = 9000
    max_waiters: int = 8000
    # Real threads per web process that run the database work off the event loop.
    database_threads: int = 8
    # maxmemory of a Redis the launcher starts (compose sets the same), so that the
    # ATM_MAX_REDIS_MEMORY_FRACTION guard has a limit to measure against.
    redis_maxmemory: str = "512mb"
    # Where a local run keeps its files: the default SQLite database (atm.db), the Redis the
    # launcher starts (redis/) and the run's metrics (metrics/).
    data_dir: Path = PROJECT_ROOT / "data"
    # Access: "required" (every request but /health and /openapi.json needs an API key) or
    # "off" (open, as the original service); off is refused on a non-loopback address
    # unless allow_insecure says it is meant.
    auth: str = "off"
    allow_insecure: bool = False
    bootstrap_admin_key: str | None = None
    rate_limit: int = 1000  # requests per second per API key, with a burst of as many
    # Webhooks: receivers on private or loopback addresses are refused unless allowed (a
    # service inside a private network must not become a way into it). A delivery without
    # a 2xx in `webhook_timeout_seconds` is retried after base, twice base, four times base
    # … seconds, `webhook_max_attempts` times in all; the sender looks for due deliveries
    # every `webhook_sweep_seconds` whether or not a wake-up reached it.
    webhook_allow_private: bool = False
    webhook_retry_base_seconds: float = 10.0
    webhook_max_attempts: int = 12
    webhook_timeout_seconds: float = 5.0
    webhook_concurrency: int = 16
    webhook_sweep_seconds: float = 5.0

    @property
    def auth_required(self) -> bool:
        return self.auth == "required"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _read(env: dict[str, str], name: str, convert, default):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return convert(raw.strip())
    except (ValueError, InvalidOperation) as exc:
        raise SettingsError(f"{name}={raw!r} is not valid: {exc}") from exc


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number of at least 0")
    return value


def _memory_size(raw: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*(b|kb|mb|gb)?", raw.lower()):
        raise ValueError("must be a size such as 512mb or 2gb")
    return raw.lower()


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number above 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be a number of at least 0")
    return value


def _amount_cents(raw: str) -> int:
    value = Decimal(raw)
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError("must be a positive amount with at most 2 decimals")
    return int(value * 100)


def _synchronous(raw: str) -> str:
    value = raw.upper()
    if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
    return value


def _auth_mode(raw: str) -> str:
    if raw not in ("required", "off"):
        raise ValueError("must be required or off")
    return raw


def _bootstrap_secret(raw: str) -> str:
    if len(raw) < 32 or not raw.isprintable() or " " in raw:
        raise ValueError("must be at least 32 printable characters without spaces")
    return raw


def _directory(raw: str) -> Path:
    return Path(raw).expanduser().resolve()


def _flag(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build settings from `env` (default: the process environment)."""
    env = dict(os.environ if env is None else env)
    defaults = Settings()
    data_dir = _read(env, "ATM_DATA_DIR", _directory, defaults.data_dir)
    settings = Settings(
        database_url=_read(env, "DATABASE_URL", str, f"sqlite:///{data_dir / 'atm.db'}"),
        redis_url=_read(env, "REDIS_URL", str, defaults.redis_url),
        partitions=_read(env, "ATM_PARTITIONS", _positive_int, defaults.partitions),
        sync_wait_seconds=_read(
            env, "ATM_SYNC_WAIT_SECONDS", _non_negative_float, defaults.sync_wait_seconds
        ),
        max_wait_seconds=_read(
            env, "ATM_MAX_WAIT_SECONDS", _non_negative_float, defaults.max_wait_seconds
        ),
        max_amount_cents=_read(env, "ATM_MAX_AMOUNT", _amount_cents, defaults.max_amount_cents),
        max_body_bytes=_read(env, "ATM_MAX_BODY_BYTES", _positive_int, defaults.max_body_bytes),
        max_batch=_read(env, "ATM_MAX_BATCH", _positive_int, defaults.max_batch),
        lease_seconds=_read(env, "ATM_LEASE_SECONDS", _positive_float, defaults.lease_seconds),
        apply_chunk=_read(env, "ATM_APPLY_CHUNK", _positive_int, defaults.apply_chunk),
        idempotency_ttl_seconds=_read(
            env, "ATM_IDEMPOTENCY_TTL", _positive_float, defaults.idempotency_ttl_seconds
        ),
        max_backlog=_read(env, "ATM_MAX_BACKLOG", _positive_int, defaults.max_backlog),
        max_redis_memory_fraction=_read(
            env,
            "ATM_MAX_REDIS_MEMORY_FRACTION",
            _positive_float,
            defaults.max_redis_memory_fraction,
        ),
        recovery_seconds=_read(
            env, "ATM_RECOVERY_SECONDS", _positive_float, defaults.recovery_seconds
        ),
        sqlite_synchronous=_read(
            env, "ATM_SQLITE_SYNCHRONOUS", _synchronous, defaults.sqlite_synchronous
        ),
        sqlite_busy_timeout_ms=_read(
            env, "ATM_SQLITE_BUSY_TIMEOUT_MS", _positive_int, defaults.sqlite_busy_timeout_ms
        ),
        seed_sample_accounts=_read(
            env, "ATM_SEED_SAMPLE_ACCOUNTS", _flag, defaults.seed_sample_accounts
        ),
        host=_read(env, "HOST", str, defaults.host),
        port=_read(env, "PORT", _positive_int, defaults.port),
        web_processes=_read(env, "WEB_CONCURRENCY", _positive_int, defaults.web_processes),
        header_timeout_seconds=_read(
            env, "ATM_HEADER_TIMEOUT", _positive_int, defaults.header_timeout_seconds
        ),
        body_timeout_seconds=_read(
            env, "ATM_BODY_TIMEOUT", _positive_float, defaults.body_timeout_seconds
        ),
        web_connections=_read(env, "WEB_CONNECTIONS", _positive_int, defaults.web_connections),
        max_waiters=_read(env, "ATM_MAX_WAITERS", _non_negative_int, defaults.max_waiters),
        database_threads=_read(
            env, "ATM_DATABASE_THREADS", _positive_int, defaults.database_threads
        ),
        redis_maxmemory=_read(env, "ATM_REDIS_MAXMEMORY", _memory_size, defaults.redis_maxmemory),
        data_dir=data_dir,
        auth=_read(env, "ATM_AUTH", _auth_mode, defaults.auth),
        allow_insecure=_read(env, "ATM_ALLOW_INSECURE", _flag, defaults.allow_insecure),
        bootstrap_admin_key=_read(
            env, "ATM_BOOTSTRAP_ADMIN_KEY", _bootstrap_secret, defaults.bootstrap_admin_key
        ),
        rate_limit=_read(env, "ATM_RATE_LIMIT", _positive_int, defaults.rate_limit),
        webhook_allow_private=_read(
            env, "ATM_WEBHOOK_ALLOW_PRIVATE", _flag, defaults.webhook_allow_private
        ),
        webhook_retry_base_seconds=_read(
            env,
            "ATM_WEBHOOK_RETRY_BASE_SECONDS",
            _positive_float,
            defaults.webhook_retry_base_seconds,
        ),
        webhook_max_attempts=_read(
            env, "ATM_WEBHOOK_MAX_ATTEMPTS", _positive_int, defaults.webhook_max_attempts
        ),
        webhook_timeout_seconds=_read(
            env, "ATM_WEBHOOK_TIMEOUT_SECONDS", _positive_float, defaults.webhook_timeout_seconds
        ),
        webhook_concurrency=_read(
            env, "ATM_WEBHOOK_CONCURRENCY", _positive_int, defaults.webhook_concurrency
        ),
        webhook_sweep_seconds=_read(
            env, "ATM_WEBHOOK_SWEEP_SECONDS", _positive_float, defaults.webhook_sweep_seconds
        ),
    )
    # A batch operation's job id holds its index, and a batch part's id its partition, in
    # 16 bits (shared.batch_queue).
    if settings.max_batch > 65_536:
        raise SettingsError("ATM_MAX_BATCH must be at most 65536")
    if settings.partitions > 65_536:
        raise SettingsError("ATM_PARTITIONS must be at most 65536")
    if settings.database_url.startswith("postgres://"):
        raise SettingsError("DATABASE_URL must start with postgresql:// (not postgres://)")
    if (
        not settings.auth_required
        and not settings.allow_insecure
        and not is_loopback(settings.host)
    ):
        raise SettingsError(
            f"ATM_AUTH=off would let anyone who can reach {settings.host} move money: set "
            "ATM_AUTH=required (with ATM_BOOTSTRAP_ADMIN_KEY for a first key), or "
            "ATM_ALLOW_INSECURE=true if an open service on that address is really meant"
        )
    return settings


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
