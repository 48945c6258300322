"""Many-row statements straight through the driver's executemany, compiled once per dialect.

SQLAlchemy Core builds and processes a parameter dictionary per row, which at thousands of
rows per transaction costs more than the database work itself. A statement here is still
written in portable Core; it is compiled once for the connection's dialect, type
processing (such as SQLite's datetime-to-text) is applied only to the columns that need it,
and the rows go to the driver in one executemany call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    positional: bool
    processors: tuple[tuple[str, Callable[[object], object]], ...]


class BulkStatement:
    """An INSERT or UPDATE to run with many parameter sets at once."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def executemany(self, session: Session, rows: Sequence[Mapping[str, object]]) -> None:
        if not rows:
            return
        connection = session.connection()
        compiled = self._compile(connection.dialect, tuple(rows[0]))
        if compiled.processors:
            rows = _processed(rows, compiled.processors)
        if compiled.positional:
            parameters: list = [tuple(row[name] for name in compiled.names) for row in rows]
        else:
            parameters = [dict(row) for row in rows]
        connection.exec_driver_sql(compiled.sql, parameters)

    def _compile(self, dialect, keys: tuple[str, ...]) -> _Compiled:  # type: ignore[no-untyped-def]
        """Compile for this dialect and these row keys (an INSERT names just those columns)."""
        cached = self.compiled.get((dialect.name, keys))
        if cached is None:
            compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
            names = tuple(compiled.positiontup or compiled.binds)
            processors = []
            for name in names:
                processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors.append((name, processor))
            cached = _Compiled(compiled.string, names, bool(compiled.positional), tuple(processors))
            self.compiled[(dialect.name, keys)] = cached
        return cached


def _processed(
    rows: Sequence[Mapping[str, object]],
    processors: tuple[tuple[str, Callable[[object], object]], ...],
) -> list[dict[str, object]]:
    """Rows with type processing applied; a value repeated across rows (a shared timestamp)
    is processed once."""
    done: dict[tuple[str, object], object] = {}
    result = []
    for row in rows:
        values = dict(row)
        for name, processor in processors:
            value = values[name]
            key = (name, value)
            if key not in done:
                done[key] = processor(value)
            values[name] = done[key]
        result.append(values)
    return result
