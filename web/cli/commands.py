"""Command-line tools on the Flask CLI: `init-db`, `partitions`, `audit`, `keys` and `batch submit`
(flask --app web ...)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
import redis
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from rich.markup import escape

from shared.access.api_keys import (
    SCOPES,
    create_key,
    key_view,
    list_keys,
    parse_accounts,
    parse_name,
    parse_scopes,
    revoke_key,
)
from shared.config.settings import load_settings
from shared.errors import DomainError, RevocationNotAnnounced
from shared.labels import database_label, redis_label
from shared.ledger.audit import run_audit
from shared.ledger.partition_count import (
    PartitionCountDiffers,
    PartitionsBusy,
    change_partition_count,
    stored_partition_count,
)
from shared.messaging import lease_holders
from shared.store.db import init_database
from web.cli.batch.outcome import console  # the commands' one stderr console
from web.cli.batch.progress import record_path
from web.cli.batch.submitter import EXIT_OPERATIONS_FAILED, Options, submit_file
from web.cli.key_revocation import LOOK_SECONDS, WebProcesses, live_web_processes, unacknowledged
from web.serving.revocations import revoke_everywhere
from web.serving.services import Services, current_services


def default_api_url() -> str:
    """ATM_URL, else the local API on PORT (as `make run` starts it). Read from the
    environment the command runs in, when it runs: not the settings cached at start."""
    settings = load_settings()
    return settings.api_url or f"http://127.0.0.1:{settings.port}"


def register_commands(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(partitions)
    app.cli.add_command(audit)
    app.cli.add_command(batch)
    app.cli.add_command(keys)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the tables, and the sample accounts on an empty database."""
    try:
        partitions = init_database(current_services().database)
    except PartitionCountDiffers as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"database ready, {partitions} partitions")


@click.command("partitions")
@click.argument("count", type=click.IntRange(1, 65536))
@click.option(
    "--unchecked",
    is_flag=True,
    help="Redis does not answer, so whether the service is stopped cannot be checked: "
    "change the count all the same (every worker and web process must be stopped).",
)
@with_appcontext
def partitions(count: int, unchecked: bool) -> None:
    """Change the database's number of partitions to COUNT.

    Only with every process of the service stopped: refused while a worker holds a
    partition's lease or a web process of this database is live in REDIS_URL, and while
    a job is queued or a hold is active. Processes started without ATM_PARTITIONS then
    take the new count; any that set it must set ATM_PARTITIONS=COUNT.
    """
    services = current_services()
    try:
        running = _running_processes(services)
    except redis.RedisError as exc:
        if not unchecked:
            raise click.ClickException(
                f"cannot reach Redis ({exc}) to check that every process is stopped; "
                "stop them all and run again with --unchecked"
            ) from exc
        running = []
    if running:
        raise click.ClickException(
            f"the service is running ({', '.join(running)}): stop every worker and web "
            "process first; nothing was changed"
        )
    try:
        with services.database.writing() as session:
            before = change_partition_count(session, count)
    except PartitionsBusy as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"partitions: {before} -> {count}; a process started with ATM_PARTITIONS set must "
        f"set it to {count}"
    )


def _running_processes(services: Services) -> list[str]:
    """What of the service is live in its Redis: workers holding leases of the database's
    partitions, and web processes of its database."""
    with services.database.read.begin() as session:
        stored = stored_partition_count(session) or 0
    leased = sum(1 for owner in lease_holders(services.redis, range(stored)) if owner)
    database = database_label(services.settings.database_url)
    web = [p for p in services.keys.live_processes() if p.database == database]
    running = [f"{leased} partitions leased"] if leased else []
    return running + ([f"{len(web)} web processes"] if web else [])


@click.command("audit")
@click.option(
    "--stale-after",
    type=float,
    default=None,
    help="Seconds a job may stay queued (default: ATM_RECOVERY_SECONDS).",
)
@with_appcontext
def audit(stale_after: float | None) -> None:
    """Check every balance against its ledger, every job's entries against its type, holds
    and limits against the accounts, and that no accepted job is stuck; exit 1 on any
    finding."""
    services = current_services()
    threshold = services.settings.recovery_seconds if stale_after is None else stale_after
    with services.database.read.begin() as session:
        report = run_audit(session, threshold)
    for finding in report.findings:
        click.echo(f"FINDING: {finding}")
    verdict = "clean" if report.clean else f"{len(report.findings)} finding(s)"
    click.echo(
        f"audit: {report.accounts} accounts, {report.ledger_entries} ledger entries, "
        f"{report.jobs} jobs, {report.holds} holds: {verdict}"
    )
    sys.exit(0 if report.clean else 1)


@click.group(cls=AppGroup)
def keys() -> None:
    """Create, list and revoke API keys (the same as POST/GET/DELETE /api-keys)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="read, operate or admin; repeat for several.",
)
@click.option("--account", "accounts", multiple=True, help="Limit the key to these accounts.")
@with_appcontext
def create_api_key(name: str, scopes: tuple[str, ...], accounts: tuple[str, ...]) -> None:
    """Create a key and print its secret, which is shown only this once."""
    try:
        chosen = parse_accounts(list(accounts) or None)
        parse_name(name)
    except DomainError as error:
        raise click.BadParameter(error.message) from error
    with current_services().database.writing() as session:
        created = create_key(session, name, parse_scopes(list(scopes)), chosen)
        view = key_view(created.record)
    click.echo(f"key_id: {view['key_id']}")
    click.echo(f"scopes: {' '.join(view['scopes'])}")  # type: ignore[arg-type]
    if chosen is not None:
        click.echo(f"accounts: {' '.join(chosen)}")
    click.echo(f"secret: {created.secret}")
    console.print("[yellow]Keep the secret now: it is stored only as a hash.[/yellow]")


@keys.command("list")
@with_appcontext
def list_api_keys() -> None:
    """Every key: id, prefix, name, scopes, accounts, and whether it is revoked."""
    with current_services().database.read.begin() as session:
        views = [key_view(key) for key in list_keys(session)]
    for view in views:
        state = "revoked" if view["revoked"] else "live"
        accounts = view["accounts"] or "any account"
        click.echo(
            f"{view['key_id']}  {view['prefix']}…  {state:<7}  {' '.join(view['scopes'])}  "  # type: ignore[arg-type]
            f"{view['name']}  ({accounts})"
        )


@keys.command("revoke")
@click.argument("key_id")
@click.option(
    "--offline",
    is_flag=True,
    help="The service is stopped: revoke although no web process of this database is live "
    "in REDIS_URL (each web process reads keys from the database when it starts). The "
    "revocation is still announced in REDIS_URL when it answers. Refused if a web process "
    "of this database is live there.",
)
@with_appcontext
def revoke_api_key(key_id: str, offline: bool) -> None:
    """Revoke a key; every web process refuses it from its next request on.

    The notice goes through REDIS_URL, which must be the service's: unless --offline, at
    least one live web process of this database must be registered there, and every live
    one must acknowledge the revocation (within about a second).

    \b
    Exit status:
      0  revoked, and acknowledged by every live web process (--offline: revoked
         and announced in REDIS_URL, where no web process of this database is live)
      1  nothing revoked: unknown key, Redis unreachable (without --offline), no
         live web process of this database in REDIS_URL (point REDIS_URL at the
         service's Redis; --offline only if the service is stopped), or
         --offline while one is live
      3  revoked in the database, but not confirmed: not every live web process
         acknowledged in time, Redis failed after the commit, or (--offline) Redis
         could not be reached; a process that remembers the key may accept it
         until a revocation reaches it (run the command again)
    """
    services = current_services()
    settings = services.settings
    database = database_label(settings.database_url)
    click.echo(f"Redis: {redis_label(settings.redis_url)}")
    click.echo(f"database: {database}")
    try:
        # The same look in both modes: --offline must not take a busy process that missed
        # a flush or two for a stopped one.
        processes = live_web_processes(services.keys, database, LOOK_SECONDS)
    except redis.RedisError as exc:
        if not offline:
            raise click.ClickException(f"cannot reach Redis: {exc}; nothing was revoked") from exc
        _revoke_without_redis(key_id, exc)
    if not _revocable(processes, offline):
        sys.exit(1)

    def revoke() -> None:
        with services.database.writing() as session:
            revoke_key(session, key_id)

    try:
        # --offline too: a web process that runs after all, unseen, forgets the key it
        # remembers when the counter changes.
        confirmed = revoke_everywhere(key_id, revoke)
    except RevocationNotAnnounced as error:
        console.print(
            f"[red]revoked {key_id} in the database, but Redis failed to announce it to the web "
            f"processes after the commit[/red] ({escape(str(error.__cause__))}); a live web "
            "process that remembers the key may accept it until a revocation is announced. "
            "Run the command again to announce it.",
            soft_wrap=True,
        )
        sys.exit(3)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    if not confirmed:
        late = ", ".join(unacknowledged(services.keys)) or "none now"
        console.print(
            f"[red]revoked {key_id} in the database, but not every live web process "
            f"acknowledged in time[/red] (not yet: {late}); such a process may accept the "
            "key until it does. Run the command again to check.",
            soft_wrap=True,
        )
        sys.exit(3)
    if offline:
        click.echo(
            f"revoked {key_id} in the database, and announced in this Redis (no live web "
            "process of this database showed there)"
        )
    else:
        heard = len(processes.ours)
        click.echo(f"revoked {key_id}: {heard} live web process(es) of this database acknowledged")


def _revoke_without_redis(key_id: str, exc: redis.RedisError) -> NoReturn:
    """--offline with Redis out of reach: revoke in the database, say who may not know, and
    exit 3 (revoked, not confirmed)."""
    try:
        with current_services().database.writing() as session:
            revoke_key(session, key_id)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    console.print(
        f"[yellow]revoked {key_id} in the database, but Redis cannot be reached "
        f"({escape(str(exc))}), so no running web process was told.[/yellow] Web processes "
        "that cannot reach Redis either read keys from the database on every request, so "
        "they refuse this key already; but a running one that can reach its Redis (not this "
        "REDIS_URL, or one only this machine cannot reach) goes on accepting the key it "
        "remembers until a revocation is announced there. If the service may be running, "
        "run this command again without --offline, with REDIS_URL set to its Redis.",
        soft_wrap=True,
    )
    sys.exit(3)


def _revocable(processes: WebProcesses, offline: bool) -> bool:
    """Whether what Redis shows fits the mode; if not, say why (nothing is revoked)."""
    others = "".join(
        f"\n  {count} live web process(es) of another database: {escape(label)}"
        for label, count in processes.others.items()
    )
    if offline and processes.ours:
        console.print(
            f"[red]--offline, but {len(processes.ours)} live web process(es) of this database "
            "use this Redis; nothing was revoked.[/red] Run without --offline.",
            soft_wrap=True,
        )
        return False
    if not offline and not processes.ours:
        console.print(
            "[red]no live web process of this database is registered in this Redis; nothing "
            "was revoked.[/red] A revocation reaches the web processes only through the Redis "
            "they use: set REDIS_URL to the service's Redis and run this again. Only if the "
            "service is stopped, --offline revokes without it (each web process reads keys "
            f"from the database when it starts).{others}",
            soft_wrap=True,
        )
        return False
    return True


@click.group(cls=AppGroup)
def batch() -> None:
    """Submit operation files to a running API."""


@batch.command("submit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    default=default_api_url,
    show_default="ATM_URL, else http://127.0.0.1:$PORT",
    help="The API.",
)
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1))
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each operation's result here (.csv or .jsonl).",
)
@click.option(
    "--fail-on-error",
    is_flag=True,
    help=f"Exit {EXIT_OPERATIONS_FAILED} if any operation failed (insufficient funds, ...).",
)
@click.option(
    "--api-key",
    envvar="ATM_API_KEY",
    show_envvar=True,
    help="The secret of an API key with the operate scope (when the API needs keys).",
)
@click.option(
    "--again",
    is_flag=True,
    help="Send every line again, as a new submission with new Idempotency-Keys, once the "
    "progress record's every line is accepted (also the way to send a file whose content "
    "changed, or to another --url); an unfinished submission of the file is finished first.",
)
@click.option(
    "--progress",
    "progress_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The progress record.  [default: FILE.progress.json]",
)
def submit(
    file: Path,
    url: str,
    batch_size: int,
    results: Path | None,
    fail_on_error: bool,
    api_key: str | None,
    again: bool,
    progress_path: Path | None,
) -> None:
    """Validate FILE (CSV or JSON Lines of account_number,type,amount), submit it in
    batches, wait for every operation, and print a summary.

    Each batch carries an Idempotency-Key made from the file's content and the batch's
    lines, and is printed with its batch id once accepted. The progress record
    (FILE.progress.json) keeps the accepted lines with their batch ids and the lines sent
    without an answer, so running the same command again, with any --batch-size or API
    key, sends only what was not accepted (lines in doubt again under their own key) and
    then shows the whole file's results. A file whose content changed since its record
    was written, or another --url than the record's, is refused; --again sends it all as
    a new submission. A batch in doubt is sent again only well within
    ATM_IDEMPOTENCY_TTL, which must be the API's.

    \b
    Exit status:
      0  every line accepted and applied (whatever each operation's outcome)
      1  bad input, nothing sent: bad lines, no operations, a record for other
         content or another --url, a record in use by another submitter, or
         the API refused a batch (a 4xx such as 401) before any line was
         accepted
      2  nothing sent: the API could not be reached (or answered 429, or
         Ctrl-C or SIGTERM, or the record could not be written) before any
         line was accepted
      3  with --fail-on-error: applied, and some operations failed
      4  part sent: stopped (API unreachable, timeout, 5xx, an answer not in
         the API's JSON, Ctrl-C, SIGTERM, a refused batch, the record not
         written) after some lines were accepted or sent without an answer;
         the same command again sends only the rest
    """
    settings = current_services().settings
    options = Options(
        file=file,
        url=url.rstrip("/"),
        batch_size=batch_size,
        api_key=api_key,
        again=again,
        progress=progress_path or record_path(file),
        results=results,
        fail_on_error=fail_on_error,
        max_cents=settings.max_amount_cents,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
    )
    sys.exit(submit_file(options))
