"""The read-model database's own paths, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import projections.db
from projections.db import SQLITE_PAGE_BYTES, Database
from tests.projections.conftest import dump


def test_insert_puts_rows_with_text_numbers_and_nulls(db: Database) -> None:
    db.execute("CREATE TABLE ledger (id TEXT NOT NULL, n BIGINT, note TEXT, PRIMARY KEY (id))")
    rows = [("a", 1, None), ("b", -(2**40), "tab\tnew\nline \\ back"), ("c", None, "")]
    with db.transaction():
        db.insert("ledger", ("id", "n", "note"), rows)
        db.insert("ledger", ("id", "n", "note"), [])
    assert dump(db, "ledger") == rows


def test_insert_takes_rows_over_several_statements(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections.db, "STATEMENT_ROWS_MAX", 2)
    db.execute("CREATE TABLE ledger (id TEXT NOT NULL, n BIGINT, PRIMARY KEY (id))")
    rows = [(f"k{i}", i if i % 2 else None) for i in range(5)]
    with db.transaction():
        db.insert("ledger", ("id", "n"), rows)
    assert dump(db, "ledger") == rows
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.transaction():
        db.insert("ledger", ("id", "n"), [("k5", 5), ("k6", 6), ("k7", 7), ("k0", 0)])
    assert dump(db, "ledger") == rows


def test_insert_of_a_key_already_stored_fails_and_rolls_back(db: Database) -> None:
    db.execute("CREATE TABLE ledger (id TEXT NOT NULL, n BIGINT, PRIMARY KEY (id))")
    db.insert("ledger", ("id", "n"), [("a", 1)])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.transaction():
        db.insert("ledger", ("id", "n"), [("b", 2), ("a", 3)])
    assert dump(db, "ledger") == [("a", 1)]


def test_a_new_sqlite_file_takes_the_page_size_and_one_made_before_keeps_its_own(
    tmp_path: Path,
) -> None:
    with Database(f"sqlite:///{tmp_path}/new.db") as db:
        db.execute("CREATE TABLE t (id TEXT NOT NULL, PRIMARY KEY (id))")
        assert db.execute("PRAGMA page_size") == [(SQLITE_PAGE_BYTES,)]
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("CREATE TABLE t (id TEXT NOT NULL, PRIMARY KEY (id))")
    old.close()
    with Database(f"sqlite:///{tmp_path}/old.db") as db:
        assert db.execute("PRAGMA page_size") == [(4_096,)]
        db.execute("INSERT INTO t (id) VALUES ('a')")
        assert db.execute("SELECT id FROM t") == [("a",)]
    with Database(f"sqlite:///{tmp_path}/new.db") as db:
        assert db.execute("PRAGMA page_size") == [(SQLITE_PAGE_BYTES,)]
