"""`stockledger verify`: replay the whole store and check every invariant.

Every event is read in notification order and checked against the rules of
`Rule`, and the replay stops at the first event that breaks one: from there
on the folded state is no longer the engine's, so later findings would be
noise. The report names that event and the rule; holds still open at the end
are counted, not faulted (an unexpired reservation is legal).

What is folded on the way is what the engine itself folds: a fresh stock core
fed every stock payload, `engine.orders.Order` per order and
`engine.credit.CreditAccount` per customer. On top of that the checker keeps
one set entry per event id and per command, and one counter per stream.

A command is an event's causation id. Our stores (embedded and Kafka) say
where each commit begins, so there a command's events must sit in one commit;
on other recorders commits are not visible, and contiguity in notification
order is what can be checked.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from rich.console import Console
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table

from engine.codec import CodecError, from_stored, to_json
from engine.credit import CreditAccount
from engine.engine import CLOCK_STREAM
from engine.events import (
    ClockAdvanced,
    CreditApproved,
    CreditHeld,
    CreditPayload,
    CreditReviewDecided,
    Envelope,
    Event,
    OrderCommandRejected,
    OrderConfirmed,
    OrderPayload,
    OrderPlaced,
    customer_stream_id,
    order_stream_id,
)
from engine.orders import AWAITING_DECISION, Order
from engine.stock._core import StockCore
from engine.stock.errors import InvariantError
from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    StockAdjusted,
    StockReceived,
    StockRejected,
    StockReserved,
    StockRestocked,
    StockShipped,
)
from engine.store import CommitReader
from engine.store.packing import originator
from engine.writer import stock_stream_of

__all__ = [
    "OffendingEvent",
    "Rule",
    "VerifyReport",
    "Violation",
    "render_report",
    "verify_store",
]

PAGE_EVENTS: Final = 50_000


class Rule(StrEnum):
    """The invariants `verify` checks, one per way a history can be wrong."""

    DECODABLE = "decodable"
    UNIQUE_EVENT_ID = "unique_event_id"
    CONTIGUOUS_VERSIONS = "contiguous_versions"
    STREAM_OF_PAYLOAD = "stream_of_payload"
    ONE_ANSWER_PER_COMMAND = "one_answer_per_command"
    NON_NEGATIVE = "non_negative"
    HOLD_ENDS_ONCE = "hold_ends_once"
    STOCK_MOVEMENTS = "stock_movements"
    STOCK_INVARIANT = "stock_invariant"
    CREDIT_LIMIT = "credit_limit"
    ORDER_LIFECYCLE = "order_lifecycle"
    CLOCK_FORWARD = "clock_forward"


RULE_TEXT: Final = {
    Rule.DECODABLE: "every stored record decodes, and its bytes are the record's event",
    Rule.UNIQUE_EVENT_ID: "no event id is used twice",
    Rule.CONTIGUOUS_VERSIONS: "each stream's versions run 1, 2, 3 ... without gaps",
    Rule.STREAM_OF_PAYLOAD: "each payload sits in the stream it names",
    Rule.ONE_ANSWER_PER_COMMAND: "a command's events are one contiguous run in one commit",
    Rule.NON_NEGATIVE: "no stock quantity is negative",
    Rule.HOLD_ENDS_ONCE: "every hold ends exactly once; nothing happens to it after",
    Rule.STOCK_MOVEMENTS: "on_hand = received + adjusted + restocked - shipped",
    Rule.STOCK_INVARIANT: "each stock event follows from the slot's state; no oversell",
    Rule.CREDIT_LIMIT: "no approval above the limit but by a review of a held order",
    Rule.ORDER_LIFECYCLE: "orders are placed once, and confirmed only when reserved and funded",
    Rule.CLOCK_FORWARD: "the logical clock only moves forward",
}


@dataclass(frozen=True)
class OffendingEvent:
    """Where the broken rule was found; `json` is None when the record does not decode."""

    notification_id: int
    stream_id: str
    version: int
    type: str
    json: str | None


@dataclass(frozen=True)
class Violation:
    rule: Rule
    detail: str
    event: OffendingEvent


@dataclass(frozen=True)
class VerifyReport:
    """Counts cover the events read, up to and including a violation's."""

    events: int
    streams: int
    commands: int
    orders_by_status: dict[str, int]
    open_holds: int
    seconds: float
    violation: Violation | None

    @property
    def ok(self) -> bool:
        return self.violation is None

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        violation = self.violation
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "commands": self.commands,
            "orders_by_status": self.orders_by_status,
            "open_holds": self.open_holds,
            "events_per_s": round(self.events_per_s),
            "violation": None
            if violation is None
            else {
                "rule": violation.rule.value,
                "detail": violation.detail,
                "notification_id": violation.event.notification_id,
                "stream_id": violation.event.stream_id,
                "version": violation.event.version,
                "type": violation.event.type,
                "event": None if violation.event.json is None else json.loads(violation.event.json),
            },
        }


class _BrokenError(Exception):
    def __init__(self, rule: Rule, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


# ---------------------------------------------------------------- reading


def _commits(
    recorder: ApplicationRecorder,
) -> Iterator[tuple[int | None, list[tuple[int, StoredEvent]]]]:
    """(commit, [(notification id, record)]) in notification order.

    `commit` is the commit's first notification id on a store that reads
    whole commits, and None elsewhere: there a page of notifications stands
    in, which says nothing about where commits begin.
    """
    if isinstance(recorder, CommitReader):
        for first, commit in recorder.read_commits():
            yield (
                first,
                [
                    (first + i, StoredEvent(originator(packed_id), version, topic, state))
                    for i, (packed_id, version, topic, state) in enumerate(commit.events())
                ],
            )
        return
    last = 0
    while page := recorder.select_notifications(last, PAGE_EVENTS, inclusive_of_start=False):
        yield None, [(n.id, n) for n in page]
        last = page[-1].id


# ---------------------------------------------------------------- the rules


class _Holds:
    """Open holds. Hold ids are issued in sequence (the stock core checks it),
    so a hold id at or below the last issued that is not open has ended."""

    def __init__(self) -> None:
        self.open: set[int] = set()
        self.issued_max = 0

    def check(self, payload: Event) -> None:
        kind = type(payload)
        if kind is StockReserved:
            assert isinstance(payload, StockReserved)
            if payload.hold_id <= self.issued_max:
                detail = f"hold {payload.hold_id} is issued again; hold ids are issued once"
                raise _BrokenError(Rule.HOLD_ENDS_ONCE, detail)
            self.open.add(payload.hold_id)
            self.issued_max = payload.hold_id
        elif kind in _HOLD_EVENTS:
            hold_id: int = payload.hold_id  # type: ignore[union-attr]
            if hold_id not in self.open:
                raise _BrokenError(Rule.HOLD_ENDS_ONCE, self._not_open(hold_id, kind.__name__))
            if kind is HoldExpired or getattr(payload, "remaining", 1) == 0:
                self.open.discard(hold_id)

    def _not_open(self, hold_id: int, kind: str) -> str:
        if hold_id <= self.issued_max:
            return (
                f"hold {hold_id} has already ended (shipped, released or expired); {kind} after it"
            )
        return f"hold {hold_id} was never issued (the last issued is {self.issued_max}); {kind}"


_HOLD_EVENTS: Final = frozenset({HoldConfirmed, HoldReleased, HoldExpired, StockShipped})
# How each movement changes on_hand; `on_hand` on the event is the result.
_MOVEMENTS: Final[dict[type, Callable[[Any], int]]] = {
    StockReceived: lambda e: e.quantity,
    StockRestocked: lambda e: e.quantity,
    StockAdjusted: lambda e: e.delta,
    StockShipped: lambda e: -e.quantity,
}
_COUNTED_FIELDS: Final = ("quantity", "on_hand", "reserved")


def _check_non_negative(payload: Event) -> None:
    for name in _COUNTED_FIELDS:
        value = getattr(payload, name, 0)
        if value < 0:
            detail = (
                f"{type(payload).__name__} has {name} {value}; stock quantities are never negative"
            )
            raise _BrokenError(Rule.NON_NEGATIVE, detail)


class _Stock:
    """The stock core replayed, and every slot's on_hand summed from its movements."""

    def __init__(self) -> None:
        self.core = StockCore()
        self.holds = _Holds()
        self.on_hand: dict[tuple[str, str], int] = {}

    def check(self, payload: Event) -> None:
        if type(payload) is StockRejected:
            return
        _check_non_negative(payload)
        self.holds.check(payload)
        move = _MOVEMENTS.get(type(payload))
        if move is not None:
            self._check_movement(payload, move(payload))
        try:
            self.core.apply((payload,))  # type: ignore[arg-type]
        except InvariantError as error:
            raise _BrokenError(Rule.STOCK_INVARIANT, str(error)) from None

    def _check_movement(self, payload: Any, moved: int) -> None:
        slot = (payload.sku, payload.location)
        expected = self.on_hand.get(slot, 0) + moved
        if payload.on_hand != expected:
            detail = (
                f"{payload.sku}@{payload.location}: the event says on_hand {payload.on_hand}, "
                f"its movements add up to {expected} (received + adjusted + restocked - shipped)"
            )
            raise _BrokenError(Rule.STOCK_MOVEMENTS, detail)
        self.on_hand[slot] = expected


class _Credit:
    """Credit accounts folded, and the orders held for review and not yet decided."""

    def __init__(self) -> None:
        self.accounts: dict[str, CreditAccount] = {}
        self.held: set[tuple[str, str]] = set()

    def check(self, payload: CreditPayload) -> None:
        account = self.accounts.get(payload.customer_id)
        if account is None:
            account = self.accounts[payload.customer_id] = CreditAccount(payload.customer_id)
        kind = type(payload)
        if kind is CreditApproved:
            assert isinstance(payload, CreditApproved)
            _check_approval(account, payload)
        elif kind is CreditHeld:
            assert isinstance(payload, CreditHeld)
            self.held.add((payload.customer_id, payload.order_id))
        elif kind is CreditReviewDecided:
            assert isinstance(payload, CreditReviewDecided)
            self._check_review(payload)
        account.apply(payload)  # type: ignore[arg-type]

    def _check_review(self, payload: CreditReviewDecided) -> None:
        key = (payload.customer_id, payload.order_id)
        if key not in self.held:
            detail = (
                f"a review decided order {payload.order_id} of customer {payload.customer_id}, "
                "which was not held for review (no CreditHeld, or already decided)"
            )
            raise _BrokenError(Rule.CREDIT_LIMIT, detail)
        self.held.discard(key)


def _check_approval(account: CreditAccount, payload: CreditApproved) -> None:
    if payload.exposure_cents > account.limit_cents:
        detail = (
            f"order {payload.order_id} approved at exposure {payload.exposure_cents} cents, "
            f"above customer {payload.customer_id}'s limit of {account.limit_cents}; above "
            "the limit only a review of a held order (CreditReviewDecided) may approve"
        )
        raise _BrokenError(Rule.CREDIT_LIMIT, detail)
    folded = account.exposure_cents + payload.amount_cents
    if payload.exposure_cents != folded:
        detail = (
            f"order {payload.order_id} approved at exposure {payload.exposure_cents} cents, "
            f"but the account's events put it at {folded} with this order"
        )
        raise _BrokenError(Rule.CREDIT_LIMIT, detail)


class _Orders:
    def __init__(self, credit: _Credit) -> None:
        self.orders: dict[str, Order] = {}
        self.credit = credit

    def check(self, payload: OrderPayload) -> None:
        if type(payload) is OrderPlaced:
            assert isinstance(payload, OrderPlaced)
            if payload.order_id in self.orders:
                detail = f"order {payload.order_id} is placed a second time"
                raise _BrokenError(Rule.ORDER_LIFECYCLE, detail)
            self.orders[payload.order_id] = Order(payload)
            return
        order = self.orders.get(payload.order_id)
        if order is None:
            # A command about an unknown order is answered in that order's stream.
            if type(payload) is OrderCommandRejected:
                return
            detail = f"{type(payload).__name__} for order {payload.order_id!r}, never placed"
            raise _BrokenError(Rule.ORDER_LIFECYCLE, detail)
        if type(payload) is OrderConfirmed:
            self._check_confirmable(order)
        order.apply(payload)  # type: ignore[arg-type]

    def _check_confirmable(self, order: Order) -> None:
        if order.status not in AWAITING_DECISION:
            detail = (
                f"order {order.order_id} confirmed while {order.status.value}; "
                "only a reserved or credit-held order is confirmed"
            )
            raise _BrokenError(Rule.ORDER_LIFECYCLE, detail)
        if order.prepaid:
            if order.paid_cents < order.total_cents:
                detail = (
                    f"prepaid order {order.order_id} confirmed with {order.paid_cents} of "
                    f"{order.total_cents} cents paid"
                )
                raise _BrokenError(Rule.ORDER_LIFECYCLE, detail)
            return
        account = self.credit.accounts.get(order.customer_id)
        if account is None or order.order_id not in account.approved:
            detail = f"order {order.order_id} confirmed without a credit approval"
            raise _BrokenError(Rule.ORDER_LIFECYCLE, detail)


def _stream_of(payload: Event) -> str:
    """The stream a payload belongs in, as the engine lays streams out."""
    if isinstance(payload, OrderPayload):
        # A rejected AdvanceClock names no order: it is answered in the clock stream.
        return order_stream_id(payload.order_id) if payload.order_id else CLOCK_STREAM
    if isinstance(payload, CreditPayload):
        return customer_stream_id(payload.customer_id)
    if isinstance(payload, ClockAdvanced):
        return CLOCK_STREAM
    return stock_stream_of(payload)


class _Commands:
    """Runs of events by causation id: each command's run must be its only one."""

    def __init__(self) -> None:
        self.finished: set[int] = set()
        self.cause: UUID | None = None
        self.commit: int | None = None

    @property
    def count(self) -> int:
        return len(self.finished) + (self.cause is not None)

    def check(self, commit: int | None, cause: UUID) -> None:
        if cause == self.cause:
            if commit != self.commit:
                detail = (
                    f"command {cause} has events in the commit at notification {self.commit} "
                    f"and again in the next commit (at {commit}); one command, one commit"
                )
                raise _BrokenError(Rule.ONE_ANSWER_PER_COMMAND, detail)
            return
        if cause.int in self.finished:
            detail = (
                f"command {cause} was answered earlier and has events again here, "
                "after other commands' events"
            )
            raise _BrokenError(Rule.ONE_ANSWER_PER_COMMAND, detail)
        if self.cause is not None:
            self.finished.add(self.cause.int)
        self.cause = cause
        self.commit = commit


class _Checker:
    def __init__(self) -> None:
        self.events = 0
        self.event_ids: set[int] = set()
        self.versions: dict[str, int] = {}
        self.commands = _Commands()
        self.stock = _Stock()
        self.credit = _Credit()
        self.orders = _Orders(self.credit)
        self.now = 0

    def check(self, commit: int | None, envelope: Envelope) -> None:
        self._check_identity(envelope)
        self.commands.check(commit, envelope.causation_id)
        payload = envelope.data
        if isinstance(payload, OrderPayload):
            self.orders.check(payload)
        elif isinstance(payload, CreditPayload):
            self.credit.check(payload)
        elif isinstance(payload, ClockAdvanced):
            self._check_clock(payload)
        else:
            self.stock.check(payload)

    def _check_identity(self, envelope: Envelope) -> None:
        event_id = envelope.event_id.int
        if event_id in self.event_ids:
            raise _BrokenError(Rule.UNIQUE_EVENT_ID, f"event id {envelope.event_id} is used again")
        self.event_ids.add(event_id)
        stream = envelope.stream_id
        expected = self.versions.get(stream, 0) + 1
        if envelope.version != expected:
            detail = f"stream {stream!r} goes to version {envelope.version}; next is {expected}"
            raise _BrokenError(Rule.CONTIGUOUS_VERSIONS, detail)
        self.versions[stream] = expected
        belongs = _stream_of(envelope.data)
        if stream != belongs:
            detail = (
                f"a {type(envelope.data).__name__} in stream {stream!r}; it belongs in {belongs!r}"
            )
            raise _BrokenError(Rule.STREAM_OF_PAYLOAD, detail)

    def _check_clock(self, payload: ClockAdvanced) -> None:
        if payload.now <= self.now:
            detail = f"the clock moves from {self.now} to {payload.now}; it only moves forward"
            raise _BrokenError(Rule.CLOCK_FORWARD, detail)
        self.now = payload.now


# ---------------------------------------------------------------- the run


def verify_store(recorder: ApplicationRecorder) -> VerifyReport:
    """Replay every event of the store through every rule; stop at the first broken one."""
    checker = _Checker()
    began = time.perf_counter()
    violation = _run(recorder, checker)
    seconds = time.perf_counter() - began
    statuses = Counter(order.status.value for order in checker.orders.orders.values())
    return VerifyReport(
        events=checker.events,
        streams=len(checker.versions),
        commands=checker.commands.count,
        orders_by_status=dict(sorted(statuses.items())),
        open_holds=len(checker.stock.holds.open),
        seconds=seconds,
        violation=violation,
    )


def _run(recorder: ApplicationRecorder, checker: _Checker) -> Violation | None:
    for commit, records in _commits(recorder):
        for notification_id, stored in records:
            checker.events += 1
            try:
                envelope = from_stored(stored)
            except CodecError as error:
                return _violation(Rule.DECODABLE, str(error), notification_id, stored, None)
            try:
                checker.check(commit, envelope)
            except _BrokenError as broken:
                return _violation(broken.rule, broken.detail, notification_id, stored, envelope)
    return None


def _violation(
    rule: Rule, detail: str, notification_id: int, stored: StoredEvent, envelope: Envelope | None
) -> Violation:
    event = OffendingEvent(
        notification_id=notification_id,
        stream_id=str(stored.originator_id),
        version=stored.originator_version,
        type=stored.topic.rpartition(":")[2],
        json=None if envelope is None else to_json(envelope).decode(),
    )
    return Violation(rule, detail, event)


# ---------------------------------------------------------------- rendering


def render_report(report: VerifyReport, console: Console) -> None:
    table = Table(title="stockledger verify", show_header=False)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("events", f"{report.events:,}")
    table.add_row("streams", f"{report.streams:,}")
    table.add_row("commands", f"{report.commands:,}")
    for status, count in report.orders_by_status.items():
        table.add_row(f"orders {status}", f"{count:,}")
    table.add_row("open holds", f"{report.open_holds:,}")
    table.add_row("events/s", f"{report.events_per_s:,.0f}")
    console.print(table)
    if report.violation is None:
        console.print("[bold green]every invariant holds[/]")
        return
    console.print(_violation_panel(report.violation))


def _violation_panel(violation: Violation) -> Panel:
    event = violation.event
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("rule", f"{violation.rule.value}: {RULE_TEXT[violation.rule]}")
    grid.add_row("detail", violation.detail)
    grid.add_row("notification", str(event.notification_id))
    grid.add_row("stream", f"{event.stream_id} version {event.version}")
    grid.add_row("type", event.type)
    grid.add_row("event", "(does not decode)" if event.json is None else JSON(event.json))
    return Panel(grid, title="[bold red]invariant broken[/]", border_style="red")
