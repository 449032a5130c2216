"""Where read models are kept: SQLite by default, PostgreSQL by URL.

`sqlite:///data/readmodels.db` (relative) or `sqlite:////abs/path.db` is a
SQLite file; `postgresql://user@host:port/dbname` is PostgreSQL through
psycopg 3. Projections write portable SQL with `?` placeholders; the one
difference that matters here, the placeholder style, is the whole dialect
layer. Upserts are `INSERT ... ON CONFLICT (key) DO UPDATE`, which both speak.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any, Final
from urllib.parse import urlsplit

import psycopg

from engine.store import StoreURLError, sqlite_path

DEFAULT_DB_URL: Final = "sqlite:///data/readmodels.db"
LOCK_TIMEOUT_S: Final = 30.0
# Rows one SQLite INSERT writes at most (fewer where SQLite's bound on a
# statement's parameters says so). Some hundreds a statement write a row in
# two thirds of the time `executemany` takes, a statement a row; thousands
# run slower again, and the last rows of each batch make a statement parsed anew.
STATEMENT_ROWS_MAX: Final = 500
# Read models are written in bulk (a rebuild writes every table whole, then
# indexes it and drops the old one): with pages four times SQLite's default,
# a quarter as many are split, written, freed and read back for the indexes.
# SQLite sets the size as it makes the file; one made before keeps its own.
SQLITE_PAGE_BYTES: Final = 16_384
# The consumers' dead-letter table (`consumers.dlq` keeps it), named here so
# that the platform's queries report it without the read side importing consumers.
DEAD_LETTERS: Final = "consumer_dead_letters"

Row = tuple[Any, ...]


class DatabaseURLError(ValueError):
    """A read-model URL that names no database this project can use."""


class Database:
    """One connection to a read-model database, used one transaction at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = urlsplit(url).scheme
        if scheme == "sqlite":
            self.dialect = "sqlite"
            try:
                path = sqlite_path(url)
            except StoreURLError as error:
                raise DatabaseURLError(str(error)) from None
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=LOCK_TIMEOUT_S)
            # Before WAL: a file in WAL mode keeps the page size it has.
            conn.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
            conn.execute("PRAGMA journal_mode=WAL")
            # A read model is rebuilt from the store, so a commit need not be
            # synced to disk before the runner goes on: NORMAL under WAL keeps
            # the file consistent and loses at most the last batches on power loss.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._params_max = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._sqlite: sqlite3.Connection | None = conn
            self._pg: psycopg.Connection[Any] | None = None
        elif scheme in ("postgresql", "postgres"):
            self.dialect = "postgresql"
            try:
                self._pg = psycopg.connect(url, autocommit=True)
            except psycopg.Error as error:
                msg = f"cannot connect to the read-model database {url!r}: {error}"
                raise DatabaseURLError(msg) from error
            self._sqlite = None
        else:
            msg = (
                f"unknown read-model database {url!r}: expected sqlite:///path/to/file.db "
                "or postgresql://user@host:port/dbname"
            )
            raise DatabaseURLError(msg)
        self._statements: dict[str, str] = {}

    def _sql(self, statement: str) -> str:
        if self._pg is None:
            return statement
        translated = self._statements.get(statement)
        if translated is None:
            translated = self._statements[statement] = statement.replace("?", "%s")
        return translated

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One transaction; on SQLite it holds the write lock from its start."""
        if self._sqlite is not None:
            self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._sqlite.execute("ROLLBACK")
                raise
            self._sqlite.execute("COMMIT")
        else:
            assert self._pg is not None
            with self._pg.transaction():
                yield self

    @contextmanager
    def unsynced(self) -> Iterator[Database]:
        """Commits that do not wait for the disk, for work that is simply redone if lost.

        PostgreSQL returns from a commit before its WAL is flushed
        (`synchronous_commit=off`): on a crash the last commits may be lost,
        never half applied. SQLite already commits so (WAL with
        `synchronous=NORMAL` syncs only at checkpoints); `OFF` would skip
        those syncs too and could corrupt the file, the live tables with it,
        on power loss, so SQLite is left as it is.
        """
        if self._pg is None:
            yield self
            return
        self._pg.execute("SET synchronous_commit = off")
        try:
            yield self
        finally:
            self._pg.execute("RESET synchronous_commit")

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[Row]:
        if self._sqlite is not None:
            return self._sqlite.execute(statement, params).fetchall()
        assert self._pg is not None
        cursor = self._pg.execute(self._sql(statement), params, prepare=False)
        return cursor.fetchall() if cursor.description is not None else []

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self._sqlite is not None:
            self._sqlite.executemany(statement, rows)
            return
        assert self._pg is not None
        with self._pg.cursor() as cursor:
            cursor.executemany(self._sql(statement), rows)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Put `rows` (values in `columns`' order) into `table`, which holds none of their keys.

        SQLite takes them `STATEMENT_ROWS_MAX` to an INSERT; PostgreSQL loads
        them with COPY, several times faster than an INSERT a row.
        """
        if not rows:
            return
        if self._sqlite is not None:
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            one = f"({', '.join('?' * len(columns))})"
            per = max(1, min(STATEMENT_ROWS_MAX, self._params_max // len(columns)))
            for start in range(0, len(rows), per):
                chunk = rows[start : start + per]
                values = ", ".join([one] * len(chunk))
                self._sqlite.execute(head + values, list(chain.from_iterable(chunk)))
            return
        assert self._pg is not None
        with (
            self._pg.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def table_exists(self, name: str) -> bool:
        if self._sqlite is not None:
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            query = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
        return bool(self.execute(query, (name,)))

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            self._pg.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def where(*conditions: str | tuple[str, object]) -> tuple[str, tuple[object, ...]]:
    """A WHERE clause (with its leading space) and its parameters.

    Each condition is SQL without a parameter, or `(SQL with one ?, value)`,
    left out when the value is None (a filter not asked for); "" when none remain.
    """
    clauses: list[str] = []
    params: list[object] = []
    for condition in conditions:
        if isinstance(condition, str):
            clauses.append(condition)
        elif condition[1] is not None:
            clauses.append(condition[0])
            params.append(condition[1])
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), tuple(params)


def connect(url: str = DEFAULT_DB_URL) -> Database:
    return Database(url)
