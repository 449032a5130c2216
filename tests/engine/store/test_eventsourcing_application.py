"""Any eventsourcing application runs on the embedded store, snapshots included."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Shelf(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    @event("ItemAdded")
    def add(self, item: str) -> None:
        self.items.append(item)


class Shelves(Application[UUID]):
    def create(self, name: str) -> UUID:
        shelf = Shelf(name)
        self.save(shelf)
        return shelf.id

    def add(self, shelf_id: UUID, item: str) -> None:
        shelf: Shelf = self.repository.get(shelf_id)
        shelf.add(item)
        self.save(shelf)


def environment(path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "engine.store.sqlite",
        "SQLITE_DBNAME": str(path),
        "IS_SNAPSHOTTING_ENABLED": "yes",
    }


def test_an_application_saves_reads_and_snapshots(tmp_path: Path) -> None:
    app = Shelves(env=environment(tmp_path / "shelves.db"))
    shelf_id = app.create("garden")
    for item in ("rake", "hose", "seeds"):
        app.add(shelf_id, item)
    app.take_snapshot(shelf_id, version=3)
    app.add(shelf_id, "gloves")
    app.close()

    reopened = Shelves(env=environment(tmp_path / "shelves.db"))
    shelf: Shelf = reopened.repository.get(shelf_id)
    assert shelf.items == ["rake", "hose", "seeds", "gloves"]
    assert shelf.version == 5
    as_of_v2: Shelf = reopened.repository.get(shelf_id, version=2)
    assert as_of_v2.items == ["rake"]
    assert reopened.snapshots is not None
    assert [s.originator_version for s in reopened.snapshots.get(shelf_id)] == [3]
    notifications = reopened.notification_log.select(start=1, limit=10)
    assert [n.originator_version for n in notifications] == [1, 2, 3, 4, 5]
    reopened.close()
