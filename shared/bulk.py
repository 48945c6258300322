"""Many-row statements straight through the driver's executemany, compiled once per dialect.

SQLAlchemy Core builds and processes a parameter dictionary per row, which at thousands of
rows per transaction costs more than the database work itself. A statement here is still
written in portable Core, but its rows are plain tuples in a declared column order, and
the values that every row shares (a timestamp, the applier's name) are given once per
call. It is compiled once per dialect; type processing (such as SQLite's datetime-to-text)
is applied once, to the shared values; the rows go to the driver in one executemany call,
reordered by a C-level itemgetter only when the compiled SQL wants another order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

Processor = Callable[[object], object] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    shared_processors: tuple[Processor, ...]
    reorder: Callable[[tuple], tuple] | None  # None: rows are already in the SQL's order
    names: tuple[str, ...] | None  # set for drivers that take named parameters


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
        shared = shared or {}
        connection = session.connection()
        compiled = self._compile(connection.dialect, tuple(shared))
        tail = tuple(
            value if process is None or value is None else process(value)
            for process, value in zip(compiled.shared_processors, shared.values(), strict=True)
        )
        parameters: list = [row + tail for row in rows] if tail else list(rows)
        if not parameters:
            return
        if compiled.reorder is not None:
            parameters = list(map(compiled.reorder, parameters))
        if compiled.names is not None:
            names = compiled.names
            parameters = [dict(zip(names, row, strict=True)) for row in parameters]
        connection.exec_driver_sql(compiled.sql, parameters)

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
        cached = _Compiled(compiled.string, tuple(map(processor, shared)), reorder, names)
        self.compiled[(dialect.name, shared)] = cached
        return cached


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


def _reordering(indexes: list[int]) -> Callable[[tuple], tuple]:
    """A function picking `indexes` out of a row, as a tuple even when there is one."""
    pick = itemgetter(*indexes)
    return pick if len(indexes) > 1 else lambda row: (pick(row),)


_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
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
        ids = session.scalars(_NEXT_IDS, {"table": table.name, "count": count})
        return sorted(ids)
    highest = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(highest + 1, highest + 1 + count))
