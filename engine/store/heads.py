"""Optimistic concurrency as both stores check it: each stream's head version.

A store's single writer keeps the head (last version) of every stream in
memory; a commit may only write each stream above its head.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent

from engine.store.columns import Columns


def stream_key(originator_id: UUID | str) -> str:
    """The text a stream is known by: a UUID's hex, as eventsourcing writes it."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def check_versions(heads: dict[str, int], stored_events: Sequence[StoredEvent]) -> dict[str, int]:
    """The new heads of the streams this commit writes, or IntegrityError."""
    columns = Columns.of(stored_events)
    changed: dict[str, int] = {}
    for key, version in zip(map(stream_key, columns.ids), columns.versions, strict=True):
        head = changed.get(key, heads.get(key))
        if head is not None and version <= head:
            msg = (
                f"stream {key!r} is at version {head}; version "
                f"{version} clashes (someone else wrote it first: "
                "reload the stream and retry)"
            )
            raise IntegrityError(msg)
        changed[key] = version
    return changed
