"""The read-model database's own paths, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from projections.db import Database
from tests.projections.conftest import dump


def test_insert_puts_rows_with_text_numbers_and_nulls(db: Database) -> None:
    db.execute("CREATE TABLE ledger (id TEXT NOT NULL, n BIGINT, note TEXT, PRIMARY KEY (id))")
    rows = [("a", 1, None), ("b", -(2**40), "tab\tnew\nline \\ back"), ("c", None, "")]
    with db.transaction():
        db.insert("ledger", ("id", "n", "note"), rows)
        db.insert("ledger", ("id", "n", "note"), [])
    assert dump(db, "ledger") == rows


def test_insert_of_a_key_already_stored_fails_and_rolls_back(db: Database) -> None:
    db.execute("CREATE TABLE ledger (id TEXT NOT NULL, n BIGINT, PRIMARY KEY (id))")
    db.insert("ledger", ("id", "n"), [("a", 1)])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), db.transaction():
        db.insert("ledger", ("id", "n"), [("b", 2), ("a", 3)])
    assert dump(db, "ledger") == [("a", 1)]
