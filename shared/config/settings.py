"""Configuration: one class, `Settings`, of every environment variable the service reads.

Every process (web, partition workers, webhook sender, launcher, admin CLI) builds it once,
on first use (`get_settings()`, cached), and then only reads attributes: nothing on a
request's path parses or looks up a variable. A bad value stops the process at start with a
SettingsError naming the variable and what is wrong with it; pydantic's ValidationError
becomes that message in one place, `load_settings`.

.env files: the class reads the process environment only, never a .env file itself. `make
run` (run.py) and Flask's CLI (`flask --app web ...`, through python-dotenv) load `.env`
into the environment before the settings are first built, without overriding a variable
the environment already has, and `FLASK_SKIP_DOTENV=1` turns that off; the processes run.py
starts inherit that environment. Reading .env here as well would make a second reader with
its own rules of precedence and search path.

Each field names its variable (`alias`) and says what it sets (`description`), which is
also what the configuration page, docs/configuration.md, is generated from
(`python -m shared.config.page`; `shown_default` is the page's text for a default that is
not a plain value). The module is long because every variable is a field with its
description. The checks of the values are reusable annotated types (PositiveInt, Flag,
...) in shared.config.checks; a value in the environment is stripped first, and an empty
one is unset.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shared.config.checks import (
    AmountCents,
    AuthMode,
    BootstrapSecret,
    Count16Bits,
    DatabaseUrl,
    Directory,
    Flag,
    LogLevel,
    MemorySize,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    RedisUrl,
    Secret,
    SqliteSynchronous,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A new database's partitions: the most workers that can apply at once, and what a worker
# that joins or leaves moves. A batch is queued as one part per partition it touches, so
# more cost each batch more (docs/performance.md, "How many partitions").
DEFAULT_PARTITIONS = 128


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot run with."""


def _default_database_url(data: dict[str, Any]) -> str:
    """The SQLite file in the data directory (ATM_DATA_DIR, validated before this field)."""
    return f"sqlite:///{data.get('data_dir', PROJECT_ROOT / 'data') / 'atm.db'}"


# Which environment load_settings reads: None for the process's own.
_environment: ContextVar[Mapping[str, str] | None] = ContextVar("environment", default=None)


class _Environment(EnvSettingsSource):
    """The process environment (or the mapping load_settings was given, and only that):
    only the documented variables (a field's own name, such as `port`, is for code, never
    read from the environment), values stripped and blank ones left out, so that they take
    the default."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        given = _environment.get()
        environ = os.environ if given is None else given
        names = _VARIABLES
        return {
            name: value.strip()
            for name, value in environ.items()
            if name in names and value.strip()
        }


class Settings(BaseSettings):
    """Every environment variable the service reads, with its default. Frozen: built once
    per process and read as attributes."""

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        env_file=None,  # .env is loaded into the environment by run.py and Flask's CLI
        extra="forbid",
        validate_by_name=True,  # Settings(partitions=4) in code, as well as the variable
        validate_by_alias=True,
    )

    # Where things are. ATM_DATA_DIR comes first: the default DATABASE_URL is in it.
    data_dir: Directory = Field(
        PROJECT_ROOT / "data",
        alias="ATM_DATA_DIR",
        description="directory where a local run keeps the default SQLite file, the "
        "launched Redis's files (redis/) and the metrics (metrics/)",
    )
    database_url: DatabaseUrl = Field(
        default_factory=_default_database_url,
        alias="DATABASE_URL",
        repr=False,
        description="the database: a SQLite file (`sqlite:///path`) or "
        "`postgresql+psycopg://…` (not `postgres://`)",
        json_schema_extra={"shown_default": "`sqlite:///<ATM_DATA_DIR>/atm.db`"},
    )
    redis_url: RedisUrl = Field(
        "redis://127.0.0.1:6379/0",
        alias="REDIS_URL",
        repr=False,
        description="the Redis of the broker, the leases, the doorbells and the completion "
        "notices: `redis://host:port/db`, or `redis+sentinel://host:port,host:port/<master>/db` "
        "for the master that Redis Sentinel names (followed through a failover)",
    )

    # Serving: where the API listens (loopback unless told otherwise: the service is open to
    # anyone who can reach the port), and with how many gunicorn processes.
    port: PositiveInt = Field(5000, alias="PORT", description="the API's TCP port")
    host: str = Field(
        "127.0.0.1",
        alias="HOST",
        description="the address the API listens on (compose sets `0.0.0.0` inside its network)",
    )
    api_url: str | None = Field(
        None,
        alias="ATM_URL",
        description="the API the batch submitter sends to (`--url`'s default)",
        json_schema_extra={"shown_default": "`http://127.0.0.1:<PORT>`"},
    )
    web_processes: PositiveInt = Field(
        2, alias="WEB_CONCURRENCY", description="gunicorn (gevent) web processes"
    )
    worker_processes: PositiveInt | None = Field(
        None,
        alias="ATM_WORKER_PROCESSES",
        description="partition worker processes `make run` starts (SQLite has one writer, so "
        "one applier is fastest; a second adds failover)",
        json_schema_extra={"shown_default": "1 on SQLite, else the CPUs (at most 4)"},
    )
    # Connections one web process holds (each a file descriptor), and how many of them may
    # wait for an outcome at once; past that they are answered at once. Connections are
    # not shared out evenly between processes, hence the room above half of 10,000 each.
    web_connections: PositiveInt = Field(
        9000,
        alias="WEB_CONNECTIONS",
        description="connections one web process holds at once (each a file descriptor)",
    )
    max_waiters: NonNegativeInt = Field(
        8000,
        alias="ATM_MAX_WAITERS",
        description="requests one web process lets wait for an outcome; past it they answer "
        "at once (202, or a long-poll's current state)",
    )
    # How long a client may take to send a request's headers, and then its body.
    header_timeout_seconds: PositiveInt = Field(
        5,
        alias="ATM_HEADER_TIMEOUT",
        description="whole seconds a client has to send a request's line and headers (and an "
        "idle keep-alive connection is kept)",
    )
    body_timeout_seconds: PositiveFloat = Field(
        10.0,
        alias="ATM_BODY_TIMEOUT",
        description="seconds a client has to send a request's body (then 408)",
    )
    # Real threads per web process that run the database work off the event loop.
    database_threads: PositiveInt = Field(
        8,
        alias="ATM_DATABASE_THREADS",
        description="real threads per web process that run the database work",
    )
    access_log: str | None = Field(
        None,
        alias="ACCESS_LOG",
        description="where gunicorn writes its access lines (JSON, ending with the request "
        "id): `-` for stderr, or a file; unset, no access lines",
    )

    # Requests and their limits.
    partitions: Count16Bits = Field(
        DEFAULT_PARTITIONS,
        alias="ATM_PARTITIONS",
        description="number of partitions, each a queue and the unit a worker owns (at "
        "most 65,536), for a new database; fixed per database: unset, a process takes its "
        "database's count; set to another, it refuses to start (`flask --app web "
        "partitions N` changes it, with nothing queued)",
    )
    sync_wait_seconds: NonNegativeFloat = Field(
        10.0,
        alias="ATM_SYNC_WAIT_SECONDS",
        description="seconds a POST waits for its result before answering 202",
    )
    max_wait_seconds: NonNegativeFloat = Field(
        30.0,
        alias="ATM_MAX_WAIT_SECONDS",
        description="seconds: the cap on `Prefer: wait=N`",
    )
    max_amount_cents: AmountCents = Field(
        100_000_000,
        alias="ATM_MAX_AMOUNT",
        description="the largest amount accepted, in currency units with at most 2 decimals",
        json_schema_extra={"shown_default": "`1000000.00`"},
    )
    max_body_bytes: PositiveInt = Field(
        2 * 1024 * 1024,
        alias="ATM_MAX_BODY_BYTES",
        description="bytes: a larger request body gets 413",
    )
    max_batch: Count16Bits = Field(
        10_000,
        alias="ATM_MAX_BATCH",
        description="operations per batch (at most 65,536: an operation's job id holds its "
        "index in 16 bits)",
    )
    max_atomic_batch: Count16Bits = Field(
        1_000,
        alias="ATM_MAX_ATOMIC_BATCH",
        description='operations per atomic batch (`"atomic": true`): all of them are '
        "applied in one transaction, which holds its accounts' partitions while it runs",
    )
    idempotency_ttl_seconds: PositiveFloat = Field(
        24 * 3600.0,
        alias="ATM_IDEMPOTENCY_TTL",
        description="seconds an Idempotency-Key is kept",
    )
    events_retention_days: PositiveFloat = Field(
        30.0,
        alias="ATM_EVENTS_RETENTION_DAYS",
        description="days the events feed keeps an event (GET /events); older ones are "
        "removed a thousand transactions' worth at a time",
    )
    rate_limit: PositiveInt = Field(
        1000,
        alias="ATM_RATE_LIMIT",
        description="requests per second per API key (a fixed one-second window, so a burst "
        "of as many)",
    )

    # Workers.
    lease_seconds: PositiveFloat = Field(
        10.0,
        alias="ATM_LEASE_SECONDS",
        description="seconds a partition lease lasts; renewed every third of it",
    )
    apply_chunk: PositiveInt = Field(
        8000,
        alias="ATM_APPLY_CHUNK",
        description="most operations applied per transaction (larger: more batch throughput, "
        "longer waits behind a chunk)",
    )
    log_level: LogLevel = Field(
        "INFO",
        alias="ATM_LOG_LEVEL",
        description="the workers' log level: DEBUG, INFO, WARNING, ERROR, CRITICAL or FATAL",
    )
    recovery_seconds: PositiveFloat = Field(
        60.0,
        alias="ATM_RECOVERY_SECONDS",
        description="seconds a job may stay queued before the audit reports it",
    )

    # Back-pressure: past these, new work gets 503.
    max_backlog: PositiveInt = Field(
        1_000_000,
        alias="ATM_MAX_BACKLOG",
        description="queued operations past which new work gets 503",
    )
    max_redis_memory_fraction: PositiveFloat = Field(
        0.9,
        alias="ATM_MAX_REDIS_MEMORY_FRACTION",
        description="share of Redis `maxmemory` past which new work gets 503",
    )
    # maxmemory of a Redis the launcher starts (compose sets the same), so that the
    # ATM_MAX_REDIS_MEMORY_FRACTION guard has a limit to measure against.
    redis_maxmemory: MemorySize = Field(
        "512mb",
        alias="ATM_REDIS_MAXMEMORY",
        description="`maxmemory` of a Redis the launcher starts (compose sets the same): "
        "bytes, or with kb, mb or gb",
    )

    # SQLite.
    sqlite_synchronous: SqliteSynchronous = Field(
        "FULL",
        alias="ATM_SQLITE_SYNCHRONOUS",
        description="SQLite's `synchronous` pragma: OFF, NORMAL, FULL or EXTRA",
    )
    # How much WAL a commit may leave before it copies it into the database (SQLite's
    # `wal_autocheckpoint`). Its default of 1,000 pages made the applier's commits copy
    # the same pages of the ledger's index by account again and again; larger, a page
    # changed by many transactions is copied once.
    sqlite_checkpoint_pages: PositiveInt = Field(
        10_000,
        alias="ATM_SQLITE_CHECKPOINT_PAGES",
        description="WAL pages a SQLite commit leaves before it checkpoints (at 4 KiB a "
        "page, 10,000 is about 40 MB of WAL)",
    )
    sqlite_busy_timeout_ms: PositiveInt = Field(
        30_000,
        alias="ATM_SQLITE_BUSY_TIMEOUT_MS",
        description="milliseconds a SQLite writer waits for the lock",
    )
    seed_sample_accounts: Flag = Field(
        True,
        alias="ATM_SEED_SAMPLE_ACCOUNTS",
        description="whether to create the sample accounts on an empty database",
    )

    # Access: "required" (every request but /health and /openapi.json needs an API key) or
    # "off" (open, as the original service); off is refused on a non-loopback address
    # unless allow_insecure says it is meant.
    auth: AuthMode = Field(
        "off",
        alias="ATM_AUTH",
        description="`required`: every request but `/health`, `/openapi.json` and the `/docs` "
        "and `/console` pages needs an API key; `off`: open, as the original service "
        "(refused on a non-loopback `HOST`)",
    )
    allow_insecure: Flag = Field(
        False,
        alias="ATM_ALLOW_INSECURE",
        description="`true` lets `ATM_AUTH=off` run on a non-loopback address",
    )
    bootstrap_admin_key: BootstrapSecret = Field(
        None,
        alias="ATM_BOOTSTRAP_ADMIN_KEY",
        repr=False,
        description="a secret (32+ printable characters, no spaces) for which an admin key "
        "is made at start if none exists",
    )

    # Webhooks: receivers on private or loopback addresses are refused unless allowed (a
    # service inside a private network must not become a way into it). A delivery without
    # a 2xx in `webhook_timeout_seconds` is retried after base, twice base, four times base
    # … seconds, `webhook_max_attempts` times in all; the sender looks for due deliveries
    # every `webhook_sweep_seconds` whether or not a wake-up reached it.
    webhook_allow_private: Flag = Field(
        False,
        alias="ATM_WEBHOOK_ALLOW_PRIVATE",
        description="`true` lets webhooks target private and loopback addresses",
    )
    webhook_retry_base_seconds: PositiveFloat = Field(
        10.0,
        alias="ATM_WEBHOOK_RETRY_BASE_SECONDS",
        description="seconds before a delivery's first retry; each next one doubles (at most "
        "a day)",
    )
    webhook_max_attempts: PositiveInt = Field(
        12,
        alias="ATM_WEBHOOK_MAX_ATTEMPTS",
        description="attempts before a delivery is `failed`",
    )
    webhook_timeout_seconds: PositiveFloat = Field(
        5.0,
        alias="ATM_WEBHOOK_TIMEOUT_SECONDS",
        description="seconds a receiver has to answer 2xx",
    )
    webhook_concurrency: PositiveInt = Field(
        16,
        alias="ATM_WEBHOOK_CONCURRENCY",
        description="deliveries one sender has in flight (its threads, and its connections "
        "per receiver)",
    )
    webhook_sweep_seconds: PositiveFloat = Field(
        5.0,
        alias="ATM_WEBHOOK_SWEEP_SECONDS",
        description="seconds between the sender's looks for due deliveries without a wake-up",
    )

    @property
    def auth_required(self) -> bool:
        return self.auth == "required"

    @property
    def partitions_given(self) -> bool:
        """Whether ATM_PARTITIONS was set: if not, the database's own count is taken."""
        return "partitions" in self.model_fields_set

    def with_partitions(self, count: int) -> Settings:
        """These settings with the database's partition count (shared.store.db)."""
        return self if count == self.partitions else self.model_copy(update={"partitions": count})

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _refuse_an_open_service(self) -> Settings:
        if not self.auth_required and not self.allow_insecure and not is_loopback(self.host):
            raise ValueError(
                f"ATM_AUTH=off would let anyone who can reach {self.host} move money: set "
                "ATM_AUTH=required (with ATM_BOOTSTRAP_ADMIN_KEY for a first key), or "
                "ATM_ALLOW_INSECURE=true if an open service on that address is really meant"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given in code, then the environment; no .env file, no secrets directory."""
        return init_settings, _Environment(settings_cls)


# The variables the class reads: each field's alias.
_VARIABLES = frozenset(field.alias for field in Settings.model_fields.values() if field.alias)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `env` (only that mapping), else from the process environment."""
    token = _environment.set(env)
    try:
        return Settings()
    except ValidationError as exc:
        raise _settings_error(exc) from None
    finally:
        _environment.reset(token)


def _settings_error(exc: ValidationError) -> SettingsError:
    """One part per wrong variable, joined by "; ": its name, its value (unless secret) and
    what is wrong with it."""
    fields = Settings.model_fields
    by_alias = {field.alias: name for name, field in fields.items()}
    lines = []
    for error in exc.errors():
        if error["type"] == "default_factory_not_called":
            continue  # a default that depends on a variable whose own error is reported
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        if not error["loc"]:  # a check of several variables: its message says it all
            lines.append(reason)
            continue
        key = str(error["loc"][0])
        name = by_alias.get(key, key)
        field = fields.get(name)
        variable = field.alias if field is not None and field.alias else key
        if field is not None and any(isinstance(m, Secret) for m in field.metadata):
            lines.append(f"{variable} is not valid: {reason}")
        else:
            lines.append(f"{variable}={error['input']!r} is not valid: {reason}")
    return SettingsError("; ".join(lines))


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
