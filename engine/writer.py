"""The write side's last step: payloads become envelopes, envelopes become one commit.

The writer is the single writer of its streams, so it knows every stream's
next version without asking the store; the store still refuses a clash, which
is what stops a second writer that should not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import to_stored_columns
from engine.events import SCHEMA_VERSIONS, Envelope, Event, order_stream_id
from engine.ids import random_uuids
from engine.stock.events import StockPayload, StockRejected, stream_id


def stock_stream_of(payload: Event) -> str:
    """The stream a stock payload belongs to.

    A slot's events go to the slot's stream. A rejection names a slot where it
    concerns one; a rejected reservation concerns an order, so it goes to the
    order's stream, where the order's own history will look for it.
    """
    if isinstance(payload, StockPayload):
        return stream_id(payload.sku, payload.location)
    if isinstance(payload, StockRejected):
        if payload.sku and payload.location:
            return stream_id(payload.sku, payload.location)
        if payload.reference:
            return order_stream_id(payload.reference)
        return "stock-rejections"
    msg = f"{type(payload).__name__} is not a stock payload"
    raise TypeError(msg)


class Stamper:
    """Stamps payloads with stream, version and lineage."""

    def __init__(self) -> None:
        # stream id -> the last version stamped (or recovered from the store)
        self.versions: dict[str, int] = {}

    def stamp(
        self,
        payloads: Sequence[tuple[str, Event]],
        *,
        timestamp: datetime,
        correlation_id: UUID,
        causation_id: UUID,
    ) -> list[Envelope]:
        """Envelopes for `(stream id, payload)` pairs, each at its stream's next version.

        Versions move on here, before the commit: a stamper whose commit
        fails must be rebuilt from the store, never reused.
        """
        return self._stamp(payloads, repeat(correlation_id), repeat(causation_id), timestamp)

    def stamp_caused(
        self, payloads: Sequence[tuple[str, Event]], causes: Sequence[UUID], *, timestamp: datetime
    ) -> list[Envelope]:
        """As `stamp`, for a whole batch of commands: `causes[i]`, the command
        that caused payload i, is its correlation and causation id."""
        return self._stamp(payloads, causes, causes, timestamp)

    def _stamp(
        self,
        payloads: Sequence[tuple[str, Event]],
        correlations: Iterable[UUID],
        causations: Iterable[UUID],
        timestamp: datetime,
    ) -> list[Envelope]:
        # The engine's hot path: the timestamp is checked once, not per event
        # as `new_envelope` does, and the event ids are drawn in bulk.
        if timestamp.tzinfo is None:
            msg = f"timestamp {timestamp.isoformat()} has no timezone; pass an aware datetime (UTC)"
            raise ValueError(msg)
        utc = timestamp.astimezone(UTC)
        versions = self.versions
        envelopes = []
        # Not strict: `stamp` passes its one correlation and causation as endless repeats.
        for (stream, payload), event_id, correlation_id, causation_id in zip(
            payloads, random_uuids(len(payloads)), correlations, causations, strict=False
        ):
            version = versions.get(stream, 0) + 1
            versions[stream] = version
            envelopes.append(
                Envelope(
                    event_id=event_id,
                    stream_id=stream,
                    version=version,
                    timestamp=utc,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    schema_version=SCHEMA_VERSIONS[type(payload)],
                    data=payload,
                )
            )
        return envelopes


def commit(
    recorder: ApplicationRecorder, envelopes: Sequence[Envelope], **options: Any
) -> Sequence[int]:
    """One atomic, durable commit; the notification ids of its events.

    `options` go to the store's `insert_events` (the Kafka store takes
    `consumed`: input offsets to commit in the same transaction).
    """
    return recorder.insert_events(to_stored_columns(envelopes), **options) or []
