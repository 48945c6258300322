"""Single statements straight through the driver, compiled once per dialect.

In an apply transaction SQLAlchemy's execution of a statement (a context, a result, a Row
per row) costs several times the query: a statement run once per transaction goes to the
driver's cursor instead, with SQLAlchemy's own SQL, parameter order, type processing and
errors. The many-row statements are in shared.store.bulk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Compiled, Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

Processor = Callable[[object], object] | None
# How many plans (one per set of names given and lengths of its IN lists) a statement keeps.
PLANS_KEPT = 64


@dataclass
class _Plan:
    """A statement as one dialect's driver takes it, for one set of names given and one
    length of each IN list."""

    sql: str
    # Per driver parameter, in the SQL's order: the caller's name, the position in its list
    # for an IN list's element (else None), its type processor; or a value of the statement.
    sources: tuple[tuple[str | None, int | None, Processor, object], ...]
    names: tuple[str, ...] | None  # set for drivers that take named parameters
    results: tuple[tuple[int, Callable[[object], object]], ...] | None = None  # once run

    def given(self, parameters: Mapping[str, object]) -> object:
        """The values for the driver, in its order (or by its names), processed."""
        values = []
        for name, index, process, value in self.sources:
            if name is not None:
                value = parameters[name] if index is None else parameters[name][index]  # type: ignore[index]
                if process is not None:
                    value = process(value)
            values.append(value)
        return values if self.names is None else dict(zip(self.names, values, strict=True))


def padded(values: list[int], filler: int | None = None) -> list[int]:
    """`values`, its length raised to a power of two with `filler` (by default its last
    value repeated, for an IN list): a statement is planned once per length of its IN
    lists (or built once per number of terms), and a list that can be any length from one
    to thousands (the partitions with work, the parts to read) would otherwise make a
    plan of each."""
    if not values:
        return values
    length = 1 << (len(values) - 1).bit_length()
    return values + [values[-1] if filler is None else filler] * (length - len(values))


class Prepared:
    """A statement run once per call straight through the driver, its rows plain tuples.

    Its SQL, parameter order and type processing (of parameters and result columns) are
    worked out once per dialect, per set of names given and per length of each IN list (an
    expanding bindparam); a call only orders and processes its values.
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
        plan = self._plan_for(dialect, parameters)
        rows, description = execute(connection, plan.sql, plan.given(parameters))
        return self._processed_rows(dialect, plan, rows, description)

    def execute_each(
        self, session: Session, parameter_sets: Sequence[Mapping[str, object]]
    ) -> list[list]:
        """The rows of the statement run once per parameter set, in order, on one cursor:
        for many small reads in a row, each costs its SQL and little more. The sets name
        the same parameters and hold no IN lists (they share one plan)."""
        if not parameter_sets:
            return []
        connection = flushed(session)
        dialect = connection.dialect
        names = tuple(parameter_sets[0])
        if any(tuple(parameters) != names for parameters in parameter_sets):
            raise TypeError("execute_each's parameter sets must name the same parameters")
        plan = self._plan_for(dialect, parameter_sets[0])
        if self.compiled[dialect.name][1]:
            raise TypeError("execute_each takes no IN lists")
        runs = execute_each(connection, plan.sql, [plan.given(p) for p in parameter_sets])
        return [self._processed_rows(dialect, plan, *run) for run in runs]

    def _plan_for(self, dialect: Dialect, parameters: Mapping[str, object]) -> _Plan:
        """The plan for calls that give these names and IN lists of these lengths."""
        compiled = self.compiled.get(dialect.name) or self._compile(dialect)
        # A plan holds the values of the statement's own bindparams that the call did not
        # give, so the names given are part of its key along with the IN lists' lengths.
        lengths = [len(parameters[name]) for name in compiled[1]]  # type: ignore[arg-type]
        key = (dialect.name, tuple(parameters), *lengths)
        return self.plans.get(key) or self._plan(dialect, key, parameters)

    def _processed_rows(
        self, dialect: Dialect, plan: _Plan, rows: list, description: Sequence | None
    ) -> list:
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


def execute_each(
    connection: Connection, sql: str, parameter_sets: Sequence[object]
) -> list[tuple[list, Sequence | None]]:
    """Run `sql` once per parameter set on one cursor of the connection's driver
    connection: each run's rows and description. Errors as in execute()."""
    return _run(connection, sql, parameter_sets)


def execute(
    connection: Connection, sql: str, parameters: object, *, many: bool = False
) -> tuple[list, Sequence | None]:
    """Run `sql` on the connection's driver connection, in its transaction: the rows and
    their description. Without SQLAlchemy's execution around it, but with its errors: a
    driver's error is raised as SQLAlchemy's (IntegrityError, OperationalError, ...)."""
    return _run(connection, sql, [parameters], many=many)[0]


def _run(
    connection: Connection, sql: str, parameter_sets: Sequence[object], *, many: bool = False
) -> list[tuple[list, Sequence | None]]:
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    found: list[tuple[list, Sequence | None]] = []
    parameters: object = None
    try:
        for parameters in parameter_sets:
            if many and len(parameters) != 1:  # type: ignore[arg-type]
                cursor.executemany(sql, parameters)
            elif many:  # one row: psycopg's executemany would open a pipeline around it
                cursor.execute(sql, parameters[0])  # type: ignore[index]
            else:
                cursor.execute(sql, parameters)
            description = cursor.description
            found.append(((cursor.fetchall() if description else []), description))
        return found
    except connection.dialect.loaded_dbapi.Error as error:
        dialect = connection.dialect
        raise DBAPIError.instance(
            sql, parameters, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        cursor.close()
