"""`stockledger history` and `state`: one stream's events with the state after each,
and a stream's state at a version or as of a time.

A stream's kind is read from its id, and each kind is folded the way the
engine folds it: `order-…` into `engine.orders.Order`, `customer-…` into
`engine.credit.CreditAccount`, `clock` into the logical time. A stock slot,
`sku-…@location`, is folded here from its own events: the stock core cannot
replay one stream alone, since hold ids are issued across all slots and the
core demands them in sequence. Each event states the slot's resulting
on_hand and reserved, so the fold takes them as stated (`verify` is what
checks that they follow). Any other stream (`stock-rejections`) is shown as
a plain log.

States are plain dicts of JSON values: the CLI prints them as a table or as
JSON. In a slot's history each state counts the open holds instead of
listing them: a hot SKU's stream runs to hundreds of thousands of events with
thousands of holds open, and listing them after every event would be
quadratic. `state_at` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import Any, Final, Protocol

from eventsourcing.persistence import ApplicationRecorder
from rich.console import Console
from rich.table import Table

from engine.codec import from_stored, to_json
from engine.credit import CreditAccount
from engine.engine import CLOCK_STREAM
from engine.events import (
    ClockAdvanced,
    CreditPayload,
    Envelope,
    Event,
    OrderPayload,
    OrderPlaced,
)
from engine.orders import Order
from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    SlotConfigured,
    StockAdjusted,
    StockReceived,
    StockReserved,
    StockRestocked,
    StockShipped,
)

__all__ = [
    "HistoryError",
    "NoEventsAsOfError",
    "StreamState",
    "UnknownStreamError",
    "VersionBeyondEndError",
    "history",
    "render_history",
    "render_state",
    "state_at",
    "to_jsonable",
]

StreamState = dict[str, Any]
STREAM_FORMS: Final = "order-<order id>, customer-<customer id>, sku-<sku>@<location> or clock"


class HistoryError(LookupError):
    """Base of the errors naming a stream, version or time that holds no events."""


class UnknownStreamError(HistoryError):
    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id!r} has no events; stream ids read {STREAM_FORMS}")


class VersionBeyondEndError(HistoryError):
    def __init__(self, stream_id: str, version: int, last: int) -> None:
        super().__init__(
            f"stream {stream_id!r} ends at version {last}; there is no version {version}"
        )


class NoEventsAsOfError(HistoryError):
    def __init__(self, stream_id: str, as_of: datetime, first: datetime) -> None:
        super().__init__(
            f"stream {stream_id!r} has no events as of {as_of.isoformat()}; "
            f"its first is at {first.isoformat()}"
        )


# ---------------------------------------------------------------- folds


class _Fold(Protocol):
    def apply(self, payload: Event) -> None: ...
    def view(self, *, full: bool) -> StreamState: ...


class _OrderFold:
    """`engine.orders.fold_order`, one event at a time: nothing before OrderPlaced."""

    def __init__(self, stream_id: str) -> None:
        self.order_id = stream_id.removeprefix("order-")
        self.order: Order | None = None

    def apply(self, payload: Event) -> None:
        # A rejected reservation may be recorded here as a StockRejected: not an order event.
        if not isinstance(payload, OrderPayload):
            return
        if self.order is None:
            if isinstance(payload, OrderPlaced):
                self.order = Order(payload)
            return
        self.order.apply(payload)

    def view(self, *, full: bool) -> StreamState:
        order = self.order
        if order is None:
            return {"order_id": self.order_id, "status": None}
        return {
            "order_id": order.order_id,
            "status": order.status.value,
            "customer_id": order.customer_id,
            "channel": order.channel,
            "payment_terms": order.payment_terms,
            "held_reason": None if order.held_reason is None else order.held_reason.value,
            "total_cents": order.total_cents,
            "paid_cents": order.paid_cents,
            "lines": [[line.sku, line.quantity, line.unit_price_cents] for line in order.lines],
            "holds": [
                {"hold_id": h.hold_id, "sku": h.sku, "location": h.location, "quantity": h.quantity}
                for _, h in sorted(order.holds.items())
            ],
            "expires_at": order.expires_at,
            "shipped": dict(order.shipped),
            "returned": dict(order.returned),
            "shipments": sorted(order.shipments),
            "delivered": sorted(order.delivered),
        }


class _AccountFold:
    def __init__(self, stream_id: str) -> None:
        self.account = CreditAccount(stream_id.removeprefix("customer-"))

    def apply(self, payload: Event) -> None:
        if isinstance(payload, CreditPayload):
            self.account.apply(payload)

    def view(self, *, full: bool) -> StreamState:
        a = self.account
        return {
            "customer_id": a.customer_id,
            "limit_cents": a.limit_cents,
            "payment_terms": a.payment_terms,
            "exposure_cents": a.exposure_cents,
            "uninvoiced_cents": a.uninvoiced_cents,
            "unpaid_cents": a.unpaid_cents,
            "on_account_cents": a.on_account_cents,
            "overdue": a.overdue,
            "approved": dict(a.approved),
            "invoices": [
                {
                    "invoice_id": i.invoice_id,
                    "order_id": i.order_id,
                    "outstanding_cents": i.outstanding_cents,
                    "due_at": i.due_at,
                    "overdue": i.overdue,
                }
                for i in a.invoices.values()
            ],
        }


@dataclass
class _Hold:
    order_id: str
    quantity: int
    expires_at: int
    confirmed: bool = False


class _SlotFold:
    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.sku = ""
        self.location = ""
        self.priority = 0
        self.safety_stock = 0
        self.backorder_limit = 0
        self.on_hand = 0
        self.reserved = 0
        self.holds: dict[int, _Hold] = {}

    def apply(self, payload: Event) -> None:
        kind = type(payload)
        if kind is SlotConfigured:
            assert isinstance(payload, SlotConfigured)
            self.sku, self.location = payload.sku, payload.location
            self.priority = payload.priority
            self.safety_stock = payload.safety_stock
            self.backorder_limit = payload.backorder_limit
        elif kind in (StockReceived, StockRestocked, StockAdjusted):
            self.on_hand = payload.on_hand  # type: ignore[union-attr]
        elif kind is StockReserved:
            assert isinstance(payload, StockReserved)
            self.holds[payload.hold_id] = _Hold(
                payload.order_id, payload.quantity, payload.expires_at
            )
            self.reserved = payload.reserved
        else:
            self._apply_to_hold(payload)

    def _apply_to_hold(self, payload: Event) -> None:
        if isinstance(payload, HoldConfirmed):
            self.holds[payload.hold_id].confirmed = True
            return
        if not isinstance(payload, HoldReleased | HoldExpired | StockShipped):
            return
        remaining = 0 if isinstance(payload, HoldExpired) else payload.remaining
        if remaining:
            self.holds[payload.hold_id].quantity = remaining
        else:
            self.holds.pop(payload.hold_id, None)
        self.reserved = payload.reserved
        if isinstance(payload, StockShipped):
            self.on_hand = payload.on_hand

    def view(self, *, full: bool) -> StreamState:
        state: StreamState = {
            "sku": self.sku,
            "location": self.location,
            "priority": self.priority,
            "safety_stock": self.safety_stock,
            "backorder_limit": self.backorder_limit,
            "on_hand": self.on_hand,
            "reserved": self.reserved,
            # Negative when the slot is backordered.
            "available": self.on_hand - self.safety_stock - self.reserved,
            "open_holds": len(self.holds),
        }
        if full:
            state["holds"] = [
                {
                    "hold_id": hold_id,
                    "order_id": h.order_id,
                    "quantity": h.quantity,
                    "expires_at": h.expires_at,
                    "confirmed": h.confirmed,
                }
                for hold_id, h in sorted(self.holds.items())
            ]
        return state


class _ClockFold:
    def __init__(self, stream_id: str) -> None:
        self.now = 0

    def apply(self, payload: Event) -> None:
        # The clock stream also answers rejected AdvanceClock commands.
        if isinstance(payload, ClockAdvanced):
            self.now = payload.now

    def view(self, *, full: bool) -> StreamState:
        return {"now": self.now}


class _LogFold:
    def __init__(self, stream_id: str) -> None:
        self.events = 0

    def apply(self, payload: Event) -> None:
        self.events += 1

    def view(self, *, full: bool) -> StreamState:
        return {"events": self.events}


def _fold_for(stream_id: str) -> _Fold:
    if stream_id.startswith("order-"):
        return _OrderFold(stream_id)
    if stream_id.startswith("customer-"):
        return _AccountFold(stream_id)
    if stream_id.startswith("sku-") and "@" in stream_id:
        return _SlotFold(stream_id)
    if stream_id == CLOCK_STREAM:
        return _ClockFold(stream_id)
    return _LogFold(stream_id)


# ---------------------------------------------------------------- reading


def _read(recorder: ApplicationRecorder, stream_id: str, lte: int | None = None) -> list[Envelope]:
    stored = recorder.select_events(stream_id, lte=lte)
    if not stored:
        raise UnknownStreamError(stream_id)
    return [from_stored(s) for s in stored]


def history(recorder: ApplicationRecorder, stream_id: str) -> list[tuple[Envelope, StreamState]]:
    """Every event of `stream_id` in order, each with the stream's state after it."""
    fold = _fold_for(stream_id)
    rows = []
    for envelope in _read(recorder, stream_id):
        fold.apply(envelope.data)
        rows.append((envelope, fold.view(full=False)))
    return rows


def state_at(
    recorder: ApplicationRecorder,
    stream_id: str,
    version: int | None = None,
    as_of: datetime | None = None,
) -> tuple[StreamState, Envelope]:
    """The state of `stream_id` after `version`, or after its events stamped at or
    before `as_of`, or now; with the last event folded in.

    As of a time, the fold stops at the first event after it: a clock that
    stepped back must not fold a later event in ahead of an earlier one.
    """
    _check_point(version, as_of)
    envelopes = _read(recorder, stream_id, lte=version)
    if version is not None and envelopes[-1].version < version:
        raise VersionBeyondEndError(stream_id, version, envelopes[-1].version)
    if as_of is not None:
        point = as_of
        envelopes = list(takewhile(lambda e: e.timestamp <= point, envelopes))
        if not envelopes:
            first = _read(recorder, stream_id, lte=1)[0]
            raise NoEventsAsOfError(stream_id, as_of, first.timestamp)
    fold = _fold_for(stream_id)
    for envelope in envelopes:
        fold.apply(envelope.data)
    return fold.view(full=True), envelopes[-1]


def _check_point(version: int | None, as_of: datetime | None) -> None:
    if version is not None and as_of is not None:
        msg = "give a version or a time (as_of), not both"
        raise ValueError(msg)
    if version is not None and version < 1:
        msg = f"version {version}: stream versions start at 1"
        raise ValueError(msg)
    if as_of is not None and as_of.tzinfo is None:
        msg = f"as_of {as_of.isoformat()} has no timezone; pass an aware time, e.g. ending in Z"
        raise ValueError(msg)


# ---------------------------------------------------------------- rendering


def to_jsonable(envelope: Envelope, state: StreamState) -> dict[str, Any]:
    """One history row, or a state with its last event, as JSON values."""
    return {"event": json.loads(to_json(envelope)), "state": state}


# The state fields a history row shows, per stream kind.
_HEADLINES: Final[dict[type, tuple[str, ...]]] = {
    _OrderFold: ("status", "held_reason"),
    _AccountFold: ("exposure_cents", "limit_cents"),
    _SlotFold: ("on_hand", "reserved", "available", "open_holds"),
    _ClockFold: ("now",),
    _LogFold: ("events",),
}
# Payload fields the stream id already says, per stream kind.
_IMPLIED: Final[dict[type, frozenset[str]]] = {
    _OrderFold: frozenset({"type", "order_id"}),
    _AccountFold: frozenset({"type", "customer_id"}),
    _SlotFold: frozenset({"type", "sku", "location"}),
    _ClockFold: frozenset({"type"}),
    _LogFold: frozenset({"type"}),
}


def render_history(
    stream_id: str, rows: Sequence[tuple[Envelope, StreamState]], console: Console
) -> None:
    kind = type(_fold_for(stream_id))
    headline, implied = _HEADLINES[kind], _IMPLIED[kind]
    table = Table(title=f"history of {stream_id}")
    table.add_column("version", justify="right")
    table.add_column("time")
    table.add_column("event")
    table.add_column("fields", overflow="fold")
    table.add_column("state after", overflow="fold")
    for envelope, state in rows:
        table.add_row(
            str(envelope.version),
            envelope.timestamp.isoformat(timespec="seconds"),
            type(envelope.data).__name__,
            _fields(envelope, implied),
            " ".join(f"{key}={state[key]}" for key in headline if state.get(key) is not None),
        )
    console.print(table)


def _fields(envelope: Envelope, implied: frozenset[str]) -> str:
    """The payload's own fields, but for what the stream id and the type already say."""
    data = json.loads(to_json(envelope))["data"]
    return json.dumps({k: v for k, v in data.items() if k not in implied})


def render_state(stream_id: str, state: StreamState, envelope: Envelope, console: Console) -> None:
    title = (
        f"{stream_id} at version {envelope.version} "
        f"({envelope.timestamp.isoformat(timespec='seconds')}, {type(envelope.data).__name__})"
    )
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in state.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    console.print(table)
