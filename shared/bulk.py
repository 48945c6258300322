"""Statements straight through the driver, compiled once per dialect.

SQLAlchemy Core builds and processes a parameter dictionary per row, which at thousands of
rows per transaction costs more than the database work itself. A statement here is still
written in portable Core, but its rows are plain tuples in a declared column order, and
the values that every row shares (a timestamp, the applier's name) are given once per
call. It is compiled once per dialect; type processing (such as SQLite's datetime-to-text)
is applied once, to the shared values; the rows go to the driver in one executemany call,
reordered by a C-level itemgetter only when the compiled SQL wants another order.

A statement run once per transaction (`Prepared`) costs the same way: SQLAlchemy's
execution of it (a context, a result, a Row per row) takes several times the query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Compiled, Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

Processor = Callable[[object], object] | None
# From how many rows an INSERT on PostgreSQL goes by COPY: below it, the COPY's own round
# trips cost more than the rows.
COPY_FROM = 16
# How many lengths of its IN lists a Prepared statement keeps the SQL of.
PLANS_KEPT = 64


@dataclass(frozen=True)
class _Compiled:
    sql: str
    shared_processors: tuple[Processor, ...]
    reorder: Callable[[tuple], tuple] | None  # None: rows are already in the SQL's order
    names: tuple[str, ...] | None  # set for drivers that take named parameters
    copy: str | None = None  # an INSERT on PostgreSQL: the COPY that does it, rows in given order


class BulkStatement:
    """An INSERT or UPDATE run with many rows at once.

    `columns` names the values of each row tuple, in order (an UPDATE's are its bindparam
    names). A value that needs type processing must be passed as shared.
    """

    def __init__(self, statement: Executable, columns: Sequence[str]) -> None:
        self.statement = statement
        self.columns = tuple(columns)
        self.compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def executemany(
        self, session: Session, rows: Iterable[tuple], shared: Mapping[str, object] | None = None
    ) -> None:
        parameters: list = list(rows)
        if not parameters:  # most of an apply's statements, most of the time
            return
        shared = shared or {}
        connection = session.connection()
        compiled = self._compile(connection.dialect, tuple(shared))
        tail = tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(compiled.shared_processors, shared.values(), strict=True)
        )
        if tail:
            parameters = [row + tail for row in parameters]
        if compiled.copy is not None and len(parameters) >= COPY_FROM:
            _copy(connection, compiled.copy, parameters)
            return
        if compiled.reorder is not None:
            parameters = list(map(compiled.reorder, parameters))
        if compiled.names is not None:
            names = compiled.names
            parameters = [dict(zip(names, row, strict=True)) for row in parameters]
        execute(connection, compiled.sql, parameters, many=True)

    def _compile(self, dialect: Dialect, shared: tuple[str, ...]) -> _Compiled:
        cached = self.compiled.get((dialect.name, shared))
        if cached is not None:
            return cached
        given = self.columns + shared
        compiled = self.statement.compile(dialect=dialect, column_keys=list(given))

        def processor(name: str) -> Processor:
            return compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)

        unprocessed = [name for name in self.columns if processor(name) is not None]
        if unprocessed:
            raise TypeError(f"{unprocessed} need type processing: pass them as shared values")
        reorder, names = None, None
        if compiled.positional:
            wanted = tuple(compiled.positiontup or ())
            if wanted != given:
                reorder = _reordering([given.index(name) for name in wanted])
        else:
            names = given
        copy = None
        if dialect.name == "postgresql" and getattr(self.statement, "is_insert", False):
            quote = dialect.identifier_preparer.quote
            table = quote(self.statement.table.name)  # type: ignore[attr-defined]
            copy = f"COPY {table} ({', '.join(map(quote, given))}) FROM STDIN"
        cached = _Compiled(compiled.string, tuple(map(processor, shared)), reorder, names, copy)
        self.compiled[(dialect.name, shared)] = cached
        return cached


def _copy(connection: Connection, statement: str, rows: list[tuple]) -> None:
    """Rows into PostgreSQL by COPY, in the caller's transaction.

    An `executemany` INSERT is one statement execution per row on the server, even
    pipelined; COPY is one for them all, several times cheaper at thousands of rows.
    """
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


class KeyedUpdate:
    """An UPDATE of many rows, each found by its key, setting the same columns.

    Rows are tuples of the key and then `columns`; `shared` values are the same for all.
    On SQLite it is an `executemany` (a row costs microseconds there). On PostgreSQL that
    would be a statement execution per row on the server, so it is one statement joining
    the table to the rows sent as one array per column (`unnest`).
    """

    def __init__(self, table: Table, key: str, columns: Sequence[str]) -> None:
        self.table, self.key, self.columns = table, key, tuple(columns)
        statement = (
            update(table)
            .where(table.c[key] == bindparam("key"))
            .values({name: bindparam(name) for name in self.columns})
        )
        self.each = BulkStatement(statement, ("key", *self.columns))
        self.joined: dict[tuple[str, ...], str] = {}

    def executemany(
        self, session: Session, rows: Sequence[tuple], shared: Mapping[str, object] | None = None
    ) -> None:
        if not rows:
            return
        connection = session.connection()
        if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM:
            self.each.executemany(session, rows, shared)
            return
        shared = shared or {}
        sql = self._joined(connection.dialect, tuple(shared))
        arrays = [list(values) for values in zip(*rows, strict=True)]
        # The SET clause, with the shared values, comes before the arrays in the SQL.
        execute(connection, sql, (*shared.values(), *arrays))

    def _joined(self, dialect: Dialect, shared: tuple[str, ...]) -> str:
        sql = self.joined.get(shared)
        if sql is None:
            quote = dialect.identifier_preparer.quote
            table = quote(self.table.name)
            names = ("key", *self.columns)
            types = [self.table.c[self.key].type, *(self.table.c[n].type for n in self.columns)]
            arrays = ", ".join(f"%s::{kind.compile(dialect=dialect)}[]" for kind in types)
            sets = [f"{quote(name)} = v.{quote(name)}" for name in self.columns]
            sets += [f"{quote(name)} = %s" for name in shared]
            sql = (
                f"UPDATE {table} SET {', '.join(sets)} "
                f"FROM unnest({arrays}) AS v({', '.join(map(quote, names))}) "
                f"WHERE {table}.{quote(self.key)} = v.key"
            )
            self.joined[shared] = sql
        return sql


class KeyedRead:
    """Rows of `table` whose `key` is one of many given keys, in key order, optionally
    locked for update (PostgreSQL), as plain tuples straight from the driver.

    An IN list of thousands of bound values costs more to render, bind and wrap in result
    rows than the read itself. The keys go as one value instead: a JSON array that SQLite
    unpacks itself (`json_each`), or one PostgreSQL array (`unnest`).
    """

    def __init__(
        self, table: Table, key: str, columns: Sequence[str], *, for_update: bool = False
    ) -> None:
        self.table, self.key, self.columns, self.for_update = table, key, tuple(columns), for_update
        self.sql: dict[str, str] = {}

    def rows(self, session: Session, keys: Sequence[object]) -> list[tuple]:
        if not keys:
            return []
        connection = flushed(session)
        dialect = connection.dialect
        sql = self.sql.get(dialect.name) or self._sql(dialect)
        postgresql = dialect.name == "postgresql"
        parameter = list(keys) if postgresql else json.dumps(list(keys))
        return execute(connection, sql, (parameter,))[0]

    def _sql(self, dialect: Dialect) -> str:
        quote = dialect.identifier_preparer.quote
        key = quote(self.key)
        columns = ", ".join(map(quote, self.columns))
        if dialect.name == "postgresql":
            kind = self.table.c[self.key].type.compile(dialect=dialect)
            # Not `= ANY(array)`: with the array a parameter (a prepared statement) each row
            # is compared with every key in turn; a subquery is joined (hashed or by index).
            where = f"{key} IN (SELECT unnest(%s::{kind}[]))"
        else:
            where = f"{key} IN (SELECT value FROM json_each(?))"
        sql = f"SELECT {columns} FROM {quote(self.table.name)} WHERE {where} ORDER BY {key}"
        if self.for_update and dialect.name == "postgresql":
            sql += " FOR UPDATE"
        self.sql[dialect.name] = sql
        return sql


class SparseInsert:
    """An INSERT of many rows whose optional columns are mostly null.

    Each row is sent with only the columns it has a value for, one statement per set of
    present columns: the driver spends time on every bound value, null or not, and a
    column left out of an INSERT is null all the same.
    """

    def __init__(self, table: Table, columns: Sequence[str], optional: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.optional = tuple(self.columns.index(name) for name in optional)
        self.statements: dict[tuple[bool, ...], tuple[BulkStatement, Callable | None]] = {}

    def executemany(
        self, session: Session, rows: Iterable[tuple], shared: Mapping[str, object] | None = None
    ) -> None:
        groups: dict[tuple[bool, ...], list[tuple]] = {}
        optional = self.optional
        for row in rows:
            present = tuple([row[index] is not None for index in optional])
            groups.setdefault(present, []).append(row)
        for present, grouped in groups.items():
            statement, pick = self._statement(present)
            statement.executemany(session, list(map(pick, grouped)) if pick else grouped, shared)

    def _statement(self, present: tuple[bool, ...]) -> tuple[BulkStatement, Callable | None]:
        found = self.statements.get(present)
        if found is None:
            absent = {index for index, here in zip(self.optional, present, strict=True) if not here}
            kept = [index for index in range(len(self.columns)) if index not in absent]
            columns = [self.columns[index] for index in kept]
            pick = _reordering(kept) if absent else None
            found = (BulkStatement(insert(self.table), columns), pick)
            self.statements[present] = found
        return found


@dataclass
class _Plan:
    """A statement as one dialect's driver takes it, for one length of each IN list."""

    sql: str
    # Per driver parameter, in the SQL's order: the caller's name, the position in its list
    # for an IN list's element (else None), its type processor; or a value of the statement.
    sources: tuple[tuple[str | None, int | None, Processor, object], ...]
    names: tuple[str, ...] | None  # set for drivers that take named parameters
    results: tuple[tuple[int, Callable[[object], object]], ...] | None = None  # once run


class Prepared:
    """A statement run once per call straight through the driver, its rows plain tuples.

    In an apply transaction SQLAlchemy's execution of a statement (a context, a result, a
    Row per row) costs several times the query. What the driver is given is still
    SQLAlchemy's own: the SQL, the order of its parameters, the type processing of the
    parameters and of the result columns, worked out once per dialect and per length of
    each IN list (an expanding bindparam); a call only orders and processes its values.
    Driver errors are raised as SQLAlchemy's.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Per dialect: the compiled statement and the names of its IN lists.
        self.compiled: dict[str, tuple[Compiled, tuple[str, ...]]] = {}
        self.plans: dict[tuple, _Plan] = {}

    def execute(self, session: Session, parameters: Mapping[str, object] | None = None) -> list:
        """The statement's rows (none for an UPDATE), as tuples."""
        parameters = parameters or {}
        connection = flushed(session)
        dialect = connection.dialect
        compiled = self.compiled.get(dialect.name) or self._compile(dialect)
        key = (dialect.name, *[len(parameters[name]) for name in compiled[1]])  # type: ignore[arg-type]
        plan = self.plans.get(key) or self._plan(dialect, key, parameters)
        values = []
        for name, index, process, value in plan.sources:
            if name is not None:
                value = parameters[name] if index is None else parameters[name][index]  # type: ignore[index]
                if process is not None:
                    value = process(value)
            values.append(value)
        given = values if plan.names is None else dict(zip(plan.names, values, strict=True))
        rows, description = execute(connection, plan.sql, given)
        results = plan.results
        if results is None:
            results = plan.results = self._results(dialect, description)
        if results and rows:
            rows = [_processed(row, results) for row in rows]
        return rows

    def scalar(self, session: Session, parameters: Mapping[str, object] | None = None) -> object:
        """The first column of the first row, or None."""
        rows = self.execute(session, parameters)
        return rows[0][0] if rows else None

    def _compile(self, dialect: Dialect) -> tuple[Compiled, tuple[str, ...]]:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.escaped_bind_names:  # the driver's names would differ from the caller's
            raise TypeError(f"bind names to escape: {sorted(compiled.escaped_bind_names)}")
        names = tuple(name for name, bind in compiled.binds.items() if bind.expanding)
        self.compiled[dialect.name] = (compiled, names)
        return compiled, names

    def _plan(self, dialect: Dialect, key: tuple, parameters: Mapping[str, object]) -> _Plan:
        compiled, expanding = self.compiled[dialect.name]
        state = compiled.construct_expanded_state(dict(parameters))
        elements = {
            element: (name, index)
            for name, expanded in state.parameter_expansion.items()
            for index, element in enumerate(expanded)
        }

        def processor(name: str) -> Processor:
            return compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)

        order = state.positiontup if compiled.positional else list(state.parameters)
        sources: list[tuple[str | None, int | None, Processor, object]] = []
        for name in order or ():
            if name in elements:
                source, index = elements[name]
                sources.append((source, index, processor(source), None))
            elif name in parameters:
                sources.append((name, None, processor(name), None))
            else:  # a value the statement holds, such as a LIMIT's: fixed, processed once
                process, value = processor(name), state.parameters[name]
                sources.append((None, None, None, value if process is None else process(value)))
        unused = set(parameters) - {source for source, *_ in sources} - set(expanding)
        if unused:  # rendered into the SQL (literal_execute), which would then be cached
            raise TypeError(f"{sorted(unused)} are not parameters of the compiled statement")
        names = None if compiled.positional else tuple(order or ())
        plan = _Plan(state.statement, tuple(sources), names)
        if len(self.plans) >= PLANS_KEPT:  # IN lists of ever new lengths: forget the oldest
            del self.plans[next(iter(self.plans))]
        self.plans[key] = plan
        return plan

    def _results(
        self, dialect: Dialect, description: Sequence | None
    ) -> tuple[tuple[int, Callable[[object], object]], ...]:
        """The result columns' type processors (SQLite's text to datetimes), as SQLAlchemy
        finds them: by the column's type and the driver's type code."""
        columns = getattr(self.statement, "selected_columns", None)
        if not description or columns is None:
            return ()
        found = []
        for index, (column, described) in enumerate(zip(columns, description, strict=True)):
            impl = column.type.dialect_impl(dialect)
            process = impl.result_processor(dialect, described[1])
            if process is not None:
                found.append((index, process))
        return tuple(found)


def _processed(row: tuple, processors: tuple[tuple[int, Callable[[object], object]], ...]) -> tuple:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)


def flushed(session: Session) -> Connection:
    """The session's connection, after flushing the objects added to the session, as its
    own execution of a statement would: what runs on the driver sees them, in order."""
    if session.autoflush:
        session.flush()
    return session.connection()


def execute(
    connection: Connection, sql: str, parameters: object, *, many: bool = False
) -> tuple[list, Sequence | None]:
    """Run `sql` on the connection's driver connection, in its transaction: the rows and
    their description. Without SQLAlchemy's execution around it, but with its errors: a
    driver's error is raised as SQLAlchemy's (IntegrityError, OperationalError, ...)."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        return (cursor.fetchall() if description else []), description
    except connection.dialect.loaded_dbapi.Error as error:
        dialect = connection.dialect
        raise DBAPIError.instance(
            sql, parameters, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        cursor.close()


def _reordering(indexes: list[int]) -> Callable[[tuple], tuple]:
    """A function picking `indexes` out of a row, as a tuple even when there is one."""
    pick = itemgetter(*indexes)
    return pick if len(indexes) > 1 else lambda row: (pick(row),)


_NEXT_IDS = Prepared(
    text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)")
)


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """`count` new, increasing primary keys for rows of `table` this write transaction inserts.

    Inserting with known ids saves reading them back, which executemany cannot do. On
    PostgreSQL they come from the column's sequence. On SQLite a write transaction holds
    the database's only write lock, so the ids after the current highest are free.
    """
    if count == 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = _NEXT_IDS.execute(session, {"table": table.name, "count": count})
        return sorted(row[0] for row in rows)
    highest = _highest_id(table).scalar(session) or 0
    return list(range(highest + 1, highest + 1 + count))  # type: ignore[operator]


@cache
def _highest_id(table: Table) -> Prepared:
    return Prepared(select(func.max(table.c.id)))
