"""Snapshots of the engine's state, so that opening it need not replay the whole store.

A snapshot is everything the engine decides with (the stock core, orders,
credit accounts, stream versions, every command's answer, the clock and the
invoices by due time) as of one notification id; an engine restored from it replays
only the events after that id. It is one MessagePack value: an array-like
struct whose first item is the format version, so a reader can refuse a
format it does not know before decoding anything else.

Snapshots live in an `AggregateRecorder` of their own (the engine uses
`factory.aggregate_recorder("snapshots")`), as the stream `engine` whose
version is the notification id each snapshot covers: the newest is the
stream's last event.

Taking one, in order:

1. Between batches only: the state is then exactly the store up to its
   last notification id, which is the id the snapshot covers.
2. Read each part of the state into rows of plain values (no per-object
   encoding hooks: `attrgetter` over each aggregate's slots runs in C).
3. Encode the rows as one `EngineSnapshot` and keep it as one stored event.

Restoring is the point, so it does as little Python per object as it can:
msgspec decodes every row straight into the final types (enums, frozen
line and hold structs, sets and dicts), and each order or account is then a
bare `__new__` whose slots are filled from its row in one unpacking.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Final

import msgspec
from eventsourcing.persistence import AggregateRecorder, IntegrityError, StoredEvent

from engine.collector import collector_paused
from engine.credit import CreditAccount, Invoice
from engine.events import HoldReason, OrderHold, OrderLine
from engine.orders import Order, OrderStatus
from engine.stock._core import StockCore

if TYPE_CHECKING:
    from engine.engine import Engine

FORMAT_VERSION: Final = 1
SNAPSHOT_STREAM: Final = "engine"
SNAPSHOT_TOPIC: Final = "engine-snapshot"

# The slots each row holds, in row order. Restoring assigns them positionally,
# so a slot added to Order, CreditAccount or Invoice must be added here (and
# FORMAT_VERSION moved on); the check below stops the import until it is.
ORDER_SLOTS: Final = (
    "channel",
    "customer_id",
    "delivered",
    "expires_at",
    "held_reason",
    "holds",
    "lines",
    "order_id",
    "paid_cents",
    "payment_terms",
    "returned",
    "shipments",
    "shipped",
    "status",
    "total_cents",
)
ACCOUNT_SLOTS: Final = (
    "approved",
    "customer_id",
    "invoices",
    "limit_cents",
    "on_account_cents",
    "payment_terms",
    "uninvoiced_cents",
    "unpaid_cents",
)
INVOICE_SLOTS: Final = ("due_at", "invoice_id", "order_id", "outstanding_cents", "overdue")


def _check_slots() -> None:
    known = ((Order, ORDER_SLOTS), (CreditAccount, ACCOUNT_SLOTS), (Invoice, INVOICE_SLOTS))
    for cls, slots in known:
        if tuple(sorted(cls.__slots__)) != slots:
            msg = (
                f"engine.snapshot does not know every slot of {cls.__name__}: it has "
                f"{sorted(cls.__slots__)}, snapshots hold {list(slots)}; add the new "
                "slots to engine/snapshot.py and move FORMAT_VERSION on"
            )
            raise TypeError(msg)


_check_slots()

OrderRow = tuple[
    str,  # channel
    str,  # customer_id
    set[str],  # delivered
    int,  # expires_at
    HoldReason | None,  # held_reason
    dict[int, OrderHold],  # holds
    tuple[OrderLine, ...],  # lines
    str,  # order_id
    int,  # paid_cents
    str,  # payment_terms
    dict[str, int],  # returned
    set[str],  # shipments
    dict[str, int],  # shipped
    OrderStatus,  # status
    int,  # total_cents
]
InvoiceRow = tuple[int, str, str, int, bool]
AccountRow = tuple[
    dict[str, int],  # approved
    str,  # customer_id
    list[InvoiceRow],  # invoices, oldest first (payments settle them in this order)
    int,  # limit_cents
    int,  # on_account_cents
    str,  # payment_terms
    int,  # uninvoiced_cents
    int,  # unpaid_cents
]


class SnapshotError(ValueError):
    """A snapshot this engine cannot use: not a snapshot, another format version, another store."""


class SnapshotHead(msgspec.Struct, array_like=True, frozen=True):
    """What every format version starts with. An array-like struct ignores
    trailing items, so this decodes the head of any version, old or new."""

    format_version: int


class EngineSnapshot(SnapshotHead, array_like=True, frozen=True, gc=False):
    """Format version 1. `answered_ids[i]` is a command id (a UUID, 16 bytes
    big-endian: MessagePack has no 128-bit integers) answered by `answered[i]`."""

    notification_id: int
    now: int
    core: bytes
    orders: list[OrderRow]
    accounts: list[AccountRow]
    hold_orders: dict[int, str]
    answered_ids: list[bytes]
    answered: list[tuple[int, int]]
    versions: dict[str, int]
    due: list[tuple[int, str, str]]


_encoder: Final = msgspec.msgpack.Encoder()
_head_decoder: Final = msgspec.msgpack.Decoder(SnapshotHead)
_decoder: Final = msgspec.msgpack.Decoder(EngineSnapshot)
_order_row: Final = attrgetter(*ORDER_SLOTS)
_account_row: Final = attrgetter(*ACCOUNT_SLOTS)
_invoice_row: Final = attrgetter(*INVOICE_SLOTS)


# ---------------------------------------------------------------- capture


def capture(engine: Engine) -> bytes:
    """The engine's whole state as of its last commit. Call it between batches only."""
    return _encoder.encode(_snapshot_of(engine))


def _snapshot_of(engine: Engine) -> EngineSnapshot:
    accounts = [
        (*row[:2], [_invoice_row(i) for i in row[2].values()], *row[3:])
        for row in map(_account_row, engine.accounts.values())
    ]
    return EngineSnapshot(
        format_version=FORMAT_VERSION,
        notification_id=engine.recorder.max_notification_id() or 0,
        now=engine.now,
        core=engine.core.snapshot(),
        orders=list(map(_order_row, engine.orders.values())),
        accounts=accounts,
        hold_orders=engine.hold_orders,
        answered_ids=[key.to_bytes(16) for key in engine.answered],
        answered=list(engine.answered.values()),
        versions=engine._stamper.versions,
        due=[due for _, due in engine._due],
    )


# ---------------------------------------------------------------- restore


def restore(engine: Engine, data: bytes) -> int:
    """Fill a fresh engine's state from a snapshot; the notification id it covers.

    The engine then holds the store up to that id: replay what follows it.
    """
    if engine.orders or engine.accounts or engine.answered or engine._stamper.versions:
        msg = "restore fills a fresh Engine(recorder); this one already has state"
        raise ValueError(msg)
    with collector_paused(freeze=engine.settings.freeze_gc):
        snapshot = _decode(data)
        stored = engine.recorder.max_notification_id() or 0
        if snapshot.notification_id > stored:
            msg = (
                f"the snapshot covers notification {snapshot.notification_id} but the store "
                f"ends at {stored}: it was taken of another store; open the engine without it"
            )
            raise SnapshotError(msg)
        engine.core = StockCore.from_snapshot(snapshot.core)
        engine.orders = _orders(snapshot.orders)
        engine.accounts = _accounts(snapshot.accounts)
        engine.hold_orders = snapshot.hold_orders
        keys = map(int.from_bytes, snapshot.answered_ids)
        engine.answered = dict(zip(keys, snapshot.answered, strict=True))
        engine.now = snapshot.now
        engine._stamper.versions = snapshot.versions
        for due in snapshot.due:
            engine._due.add(due[0], due)
    return snapshot.notification_id


def _decode(data: bytes) -> EngineSnapshot:
    try:
        version = _head_decoder.decode(data).format_version
    except msgspec.DecodeError as e:
        msg = f"not an engine snapshot ({e}); open the engine without it (full replay)"
        raise SnapshotError(msg) from e
    if version != FORMAT_VERSION:
        msg = (
            f"snapshot format version {version} is not one this engine reads "
            f"(it reads {FORMAT_VERSION}); open the engine without it (full replay) "
            "and save a new snapshot"
        )
        raise SnapshotError(msg)
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as e:
        msg = f"snapshot format version {version} is malformed: {e}"
        raise SnapshotError(msg) from e


def _orders(rows: list[OrderRow]) -> dict[str, Order]:
    new = Order.__new__
    orders = {}
    for row in rows:
        o = new(Order)
        (
            o.channel,
            o.customer_id,
            o.delivered,
            o.expires_at,
            o.held_reason,
            o.holds,
            o.lines,
            o.order_id,
            o.paid_cents,
            o.payment_terms,
            o.returned,
            o.shipments,
            o.shipped,
            o.status,
            o.total_cents,
        ) = row
        orders[o.order_id] = o
    return orders


def _accounts(rows: list[AccountRow]) -> dict[str, CreditAccount]:
    accounts = {}
    for row in rows:
        a = CreditAccount.__new__(CreditAccount)
        (
            a.approved,
            a.customer_id,
            invoices,
            a.limit_cents,
            a.on_account_cents,
            a.payment_terms,
            a.uninvoiced_cents,
            a.unpaid_cents,
        ) = row
        a.invoices = {}
        for invoice_row in invoices:
            i = Invoice.__new__(Invoice)
            i.due_at, i.invoice_id, i.order_id, i.outstanding_cents, i.overdue = invoice_row
            a.invoices[i.invoice_id] = i
        accounts[a.customer_id] = a
    return accounts


# ---------------------------------------------------------------- keeping them


def save(engine: Engine, recorder: AggregateRecorder) -> int:
    """Capture the engine into `recorder`; the notification id the snapshot covers."""
    snapshot = _snapshot_of(engine)
    stored = StoredEvent(
        originator_id=SNAPSHOT_STREAM,
        originator_version=snapshot.notification_id,
        topic=SNAPSHOT_TOPIC,
        state=_encoder.encode(snapshot),
    )
    try:
        recorder.insert_events([stored])
    except IntegrityError as e:
        msg = (
            f"a snapshot covering notification {snapshot.notification_id} or later is "
            "already saved; nothing was saved (take the next one after more batches)"
        )
        raise IntegrityError(msg) from e
    return snapshot.notification_id


def load_latest(recorder: AggregateRecorder) -> bytes | None:
    """The newest snapshot's bytes (for `restore`), or None when there is none."""
    newest = recorder.select_events(SNAPSHOT_STREAM, desc=True, limit=1)
    if not newest:
        return None
    (event,) = newest
    if event.topic != SNAPSHOT_TOPIC:
        msg = f"stream {SNAPSHOT_STREAM!r} holds a {event.topic!r}, not an engine snapshot"
        raise SnapshotError(msg)
    return event.state
