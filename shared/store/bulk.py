"""Statements straight through the driver, compiled once per dialect.

SQLAlchemy Core builds and processes a parameter dictionary per row, which at thousands of
rows per transaction costs more than the database work itself. A statement here is still
written in portable Core, but its rows are plain tuples in a declared column order, and
the values that every row shares (a timestamp, the applier's name) are given once per
call. It is compiled once per dialect; type processing (such as SQLite's datetime-to-text)
is applied once, to the shared values; the rows go to the driver in one executemany call,
reordered by a C-level itemgetter only when the compiled SQL wants another order. On
SQLite, with many rows, the shared values are written into the SQL as literals instead of
being appended to every row: SQLite binds each value of each row, and a job row's three
shared values cost about a third of a microsecond a row (0.4 - 0.6 µs measured with a bare
`sqlite3` insert of 50,000 rows).

A statement run once per transaction costs the same way: see shared.store.prepared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from shared.store.prepared import Prepared, Processor, execute, flushed

# From how many rows an INSERT on PostgreSQL goes by COPY: below it, the COPY's own round
# trips cost more than the rows.
COPY_FROM = 16
# From how many rows SQLite gets the shared values as literals in the statement's text: a
# bound value costs per row, but a text not seen before is parsed again (and the shared
# values, a timestamp among them, change with every call).
INLINE_FROM = 16


@dataclass(frozen=True)
class _Compiled:
    sql: str
    shared_processors: tuple[Processor, ...]
    reorder: Callable[[tuple], tuple] | None  # None: rows are already in the SQL's order
    names: tuple[str, ...] | None  # set for drivers that take named parameters
    copy: str | None = None  # an INSERT on PostgreSQL: the COPY that does it, rows in given order
    copy_types: tuple[str, ...] | None = None  # its columns' types when it is binary
    # SQLite: the SQL cut at the shared values' placeholders, which each call fills with the
    # values written as literals (see _inlined); `reorder` then picks the rows' own values.
    pieces: tuple[str, ...] | None = None
    inline_reorder: Callable[[tuple], tuple] | None = None
    shared_order: tuple[int, ...] = ()  # the shared values' indexes, in the SQL's order


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
        if compiled.pieces is not None and len(parameters) >= INLINE_FROM:
            literals = _literals([tail[index] for index in compiled.shared_order])
            if literals is not None:
                sql = "".join(_interleave(compiled.pieces, literals))
                if compiled.inline_reorder is not None:
                    parameters = list(map(compiled.inline_reorder, parameters))
                execute(connection, sql, parameters, many=True)
                return
        if tail:
            parameters = [row + tail for row in parameters]
        if compiled.copy is not None and len(parameters) >= COPY_FROM:
            _copy(connection, compiled.copy, compiled.copy_types, parameters)
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
        pieces, inline_reorder, shared_order = None, None, ()
        wanted = tuple(compiled.positiontup or ())
        if (
            shared
            and dialect.name == "sqlite"
            and compiled.positional
            and compiled.string.count("?") == len(wanted)
        ):
            cut = compiled.string.split("?")
            kept, current = [], cut[0]
            for name, after in zip(wanted, cut[1:], strict=True):
                if name in shared:
                    kept.append(current)
                    current = after
                else:
                    current += "?" + after
            kept.append(current)
            pieces = tuple(kept)
            shared_order = tuple(shared.index(name) for name in wanted if name in shared)
            own = [self.columns.index(name) for name in wanted if name not in shared]
            if own != list(range(len(self.columns))):
                inline_reorder = _reordering(own)
        copy, copy_types = None, None
        if dialect.name == "postgresql" and getattr(self.statement, "is_insert", False):
            quote = dialect.identifier_preparer.quote
            table = self.statement.table  # type: ignore[attr-defined]
            copy = f"COPY {quote(table.name)} ({', '.join(map(quote, given))}) FROM STDIN"
            copy_types = _binary_types(table, given, dialect)
            if copy_types is not None:
                copy += " (FORMAT BINARY)"
        cached = _Compiled(
            compiled.string,
            tuple(map(processor, shared)),
            reorder,
            names,
            copy,
            copy_types,
            pieces,
            inline_reorder,
            shared_order,
        )
        self.compiled[(dialect.name, shared)] = cached
        return cached


def _literals(values: Sequence[object]) -> list[str] | None:
    """SQLite literals of `values` (already type-processed), or None if one is of a kind
    written here only as a bound value."""
    literals = []
    for value in values:
        if value is None:
            literals.append("NULL")
        elif isinstance(value, bool):
            literals.append(str(int(value)))
        elif isinstance(value, int) and -(2**63) <= value < 2**63:  # else SQLite reads a REAL
            literals.append(str(value))
        elif isinstance(value, str) and "\x00" not in value:
            literals.append("'" + value.replace("'", "''") + "'")
        else:
            return None
    return literals


def _interleave(pieces: Sequence[str], literals: Sequence[str]) -> Iterable[str]:
    yield pieces[0]
    for literal, piece in zip(literals, pieces[1:], strict=True):
        yield literal
        yield piece


# The column types whose values a binary COPY writes as the server would store them; a
# Python value of another kind fails the COPY. Not `integer`: psycopg's binary int4 wraps
# a value past 2**31 where the server would refuse it, so a COPY with such a column (or
# any other type) stays in text, which the server parses and checks.
_BINARY_TYPES = {
    "BIGINT": "int8",
    "VARCHAR": "varchar",
    "TEXT": "text",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}


def _binary_types(table: Table, columns: Sequence[str], dialect: Dialect) -> tuple[str, ...] | None:
    """The psycopg types of `columns` for a binary COPY, or None if one is not of a type
    it is used for (a length, as in `VARCHAR(34)`, does not change the type)."""
    types = []
    for name in columns:
        compiled = table.c[name].type.compile(dialect=dialect)
        kind = _BINARY_TYPES.get(compiled.split("(")[0])
        if kind is None:
            return None
        types.append(kind)
    return tuple(types)


def _copy(
    connection: Connection, statement: str, types: Sequence[str] | None, rows: list[tuple]
) -> None:
    """Rows into PostgreSQL by COPY, in the caller's transaction.

    An `executemany` INSERT is one statement execution per row on the server, even
    pipelined; COPY is one for them all, several times cheaper at thousands of rows. In
    binary (`types` given: see _BINARY_TYPES), psycopg writes each value without making
    text of it first (about a fifth of the text format's client time, and less for the
    server to parse).
    """
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(statement) as copy:
        if types is not None:
            copy.set_types(list(types))
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
            arrays = ", ".join(f"%b::{kind.compile(dialect=dialect)}[]" for kind in types)
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
            where = f"{key} IN (SELECT unnest(%b::{kind}[]))"
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
        # The optional values of a row, as a tuple even when there is one.
        self.optionals = _reordering(list(self.optional))
        self.none = (None,) * len(self.optional)
        self.statements: dict[tuple[bool, ...], tuple[BulkStatement, Callable | None]] = {}

    def executemany(
        self, session: Session, rows: Iterable[tuple], shared: Mapping[str, object] | None = None
    ) -> None:
        # Most rows have none of the optional values: found by one C-level comparison each.
        optionals, none, bare = self.optionals, self.none, (False,) * len(self.none)
        groups: dict[tuple[bool, ...], list[tuple]] = {}
        for row in rows:
            values = optionals(row)
            present = bare if values == none else tuple([value is not None for value in values])
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


def _reordering(indexes: list[int]) -> Callable[[tuple], tuple]:
    """A function picking `indexes` out of a row, as a tuple even when there is one."""
    pick = itemgetter(*indexes)
    return pick if len(indexes) > 1 else lambda row: (pick(row),)


# The sequence is named once, by an uncorrelated subquery (run once, before the rows):
# `pg_get_serial_sequence` called for each row was two thirds of the statement's time.
_NEXT_IDS = Prepared(
    text(
        "SELECT nextval((SELECT pg_get_serial_sequence(:table, 'id'))::regclass) "
        "FROM generate_series(1, :count)"
    )
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
