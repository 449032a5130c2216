"""The write side's last step: payloads become envelopes, envelopes become one commit.

The writer is the single writer of its streams, so it knows every stream's
next version without asking the store; the store still refuses a clash, which
is what stops a second writer that should not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from engine.codec import to_stored
from engine.events import Envelope, Event, new_envelope, order_stream_id
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
        payloads: Iterable[tuple[str, Event]],
        *,
        timestamp: datetime,
        correlation_id: UUID,
        causation_id: UUID,
    ) -> list[Envelope]:
        """Envelopes for `(stream id, payload)` pairs, each at its stream's next version.

        Versions move on here, before the commit: a stamper whose commit
        fails must be rebuilt from the store, never reused.
        """
        versions = self.versions
        envelopes = []
        for stream, payload in payloads:
            version = versions.get(stream, 0) + 1
            versions[stream] = version
            envelopes.append(
                new_envelope(
                    payload,
                    stream_id=stream,
                    version=version,
                    timestamp=timestamp,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                )
            )
        return envelopes


def commit(recorder: ApplicationRecorder, envelopes: Sequence[Envelope]) -> Sequence[int]:
    """One atomic, durable commit; the notification ids of its events."""
    return recorder.insert_events([to_stored(e) for e in envelopes]) or []
