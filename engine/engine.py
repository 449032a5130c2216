"""The engine: commands in, one atomic commit of events out per batch.

It is the single writer of its store. It keeps everything it decides with in
memory (the stock core, orders, credit accounts, each stream's version, the
answer to every command) and rebuilds all of it from the store when it opens,
so a restart resumes exactly where the last durable commit left off.

A batch, in order:

1. Each command in turn: a retry (its client id was answered before) gets
   the events it caused the first time; anything else is decided by its
   handler, whose events are folded into the state at once, so later
   commands of the batch see them.
2. Every command's events are stamped with the next versions of their
   streams, the command's id as correlation and causation.
3. The whole batch is one commit. If that commit fails the in-memory state
   is ahead of the store, so the engine refuses further batches: reopen it.

The order saga lives in the handlers: place, reserve, credit check, then
confirm, or hold for review or payment, or reject and release the holds;
cancellation and hold expiry release them too.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Final
from uuid import UUID

import msgspec
from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder, PersistenceError

from engine import snapshot
from engine.codec import decode, lineages_of_array
from engine.collector import collector_paused
from engine.commands import (
    AdjustStock,
    AdvanceClock,
    AnyCommand,
    CancelOrder,
    CapturePayment,
    ConfigureSlot,
    DecideCreditReview,
    DeliverOrder,
    PlaceOrder,
    ReceiveStock,
    RecordPayment,
    ReturnLine,
    ReturnLines,
    SetCreditLimit,
    ShipLines,
    SkuQuantity,
    command_uuids,
)
from engine.credit import CreditAccount, CreditPolicy
from engine.events import (
    TOPIC_TYPES,
    ClockAdvanced,
    CommandReason,
    CreditApproved,
    CreditCommandRejected,
    CreditHeld,
    CreditLimitSet,
    CreditNoteIssued,
    CreditPayload,
    CreditReleased,
    CreditReviewDecided,
    Disposition,
    Envelope,
    Event,
    HoldReason,
    InvoiceIssued,
    InvoiceOverdue,
    Lineage,
    LineQuantity,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderDelivered,
    OrderExpired,
    OrderHold,
    OrderLine,
    OrderPayload,
    OrderPlaced,
    OrderRejected,
    OrderRejectionReason,
    OrderStockReserved,
    PaymentCaptured,
    PaymentRecorded,
    ReturnedLine,
    customer_stream_id,
    order_stream_id,
)
from engine.orders import AWAITING_DECISION, CANCELLABLE, SHIPPABLE, Order, OrderStatus
from engine.schedule import Schedule
from engine.stock._core import StockCore
from engine.stock.events import (
    HoldExpired,
    HoldReleased,
    Reason,
    StockEvent,
    StockRejected,
    StockReserved,
    StockShipped,
)
from engine.store import CommitReader, WriterStart
from engine.writer import Stamper, commit, stock_stream_of

_log = logging.getLogger(__name__)

CLOCK_STREAM: Final = "clock"
SECONDS_PER_DAY: Final = 86_400
_TOPIC: Final = {cls: topic for topic, types in TOPIC_TYPES.items() for cls in types}
_HOLD_ENDS: Final = (HoldReleased, HoldExpired, StockShipped)
_STOCK_TYPES: Final = frozenset(TOPIC_TYPES["stock"])
_command_id: Final = attrgetter("command_id")
# A pipeline's queued events before `submit` waits for the writer, and the
# most one group commit takes: twice the flow bench's batch, well inside
# both stores' commit limits.
GROUP_EVENTS_MAX: Final = 20_000


@dataclass(frozen=True)
class EngineSettings:
    """`freeze_gc`: after recovery and after every batch, move everything alive
    into the collector's permanent generation (`gc.freeze`). The engine's state
    only grows and holds no reference cycles, and without this each full
    collection rescans all of it: measured, a third of the throughput. It is a
    process-wide setting, so an embedding application may turn it off."""

    hold_ttl_s: int = 900
    batch_size_max: int = 10_000
    credit: CreditPolicy = field(default_factory=CreditPolicy)
    freeze_gc: bool = True
    # With a snapshot recorder, a snapshot after every this many events.
    snapshot_every_events: int = 1_000_000


class Answer(msgspec.Struct, frozen=True):
    """What a command caused; for a retry, what it caused the first time."""

    command_id: str
    events: list[Envelope]
    retry: bool = False


class EngineBrokenError(RuntimeError):
    """A commit failed after the batch was decided: the engine must be reopened."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Engine:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        settings: EngineSettings | None = None,
        clock: Callable[[], datetime] = _utc_now,
        snapshots: AggregateRecorder | None = None,
    ) -> None:
        self.recorder = recorder
        self.settings = settings or EngineSettings()
        self.clock = clock
        self.snapshots = snapshots
        self._snapshot_at = 0
        self.core = StockCore()
        self.orders: dict[str, Order] = {}
        self.accounts: dict[str, CreditAccount] = {}
        self.hold_orders: dict[int, str] = {}
        # command id as a UUID's int -> (first notification id, event count)
        self.answered: dict[int, tuple[int, int]] = {}
        self.now = 0
        self._stamper = Stamper()
        # Invoices by due time, each as (due time, customer id, invoice id).
        self._due: Schedule[tuple[int, str, str]] = Schedule()
        self._pairs: list[tuple[str, Event]] = []
        self._broken = False
        # The command ids (as ints) of batches decided whose commit has not
        # settled yet (a pipeline queues many), each with its batch.
        self._unsettled_keys: dict[int, _Batch] = {}
        self._last_id = 0

    @classmethod
    def open(
        cls,
        recorder: ApplicationRecorder,
        settings: EngineSettings | None = None,
        clock: Callable[[], datetime] = _utc_now,
        snapshots: AggregateRecorder | None = None,
    ) -> Engine:
        """An engine whose state is everything the store holds: the store's one
        writer, started here (see `engine.store.WriterStart`).

        With `snapshots` (e.g. `factory.aggregate_recorder("snapshots")`) it
        starts from the newest snapshot and replays only the events after it,
        and saves a new one every `snapshot_every_events`.
        """
        engine = cls(recorder, settings, clock, snapshots)
        if isinstance(recorder, WriterStart):
            # Fenced first, an earlier writer cannot commit after the state is read.
            recorder.start_writer()
        engine._recover()
        return engine

    # ------------------------------------------------------------ recovery

    def _recover(self) -> None:
        # Recovery allocates millions of objects that all survive; with the
        # collector on, each generation-2 pass rescans them all (measured: it
        # made recovery four times slower). Nothing here makes cycles.
        if self.snapshots is not None:
            latest = snapshot.load_latest(self.snapshots)
            if latest is not None:
                self._snapshot_at = snapshot.restore(self, latest)
        with collector_paused(freeze=self.settings.freeze_gc):
            self._replay_store(after=self._snapshot_at)

    def _replay_store(self, after: int) -> None:
        """Fold every commit after notification `after` into the state, in bulk calls."""
        versions = self._stamper.versions
        self._last_id = after
        for first, envelopes in _commits(self.recorder, after):
            self._last_id = first + len(envelopes) - 1
            versions.update([(e.stream_id, e.version) for e in envelopes])
            self._recall_answers(first, [e.causation_id.int for e in envelopes])
            stock = [e.data for e in envelopes if type(e.data) in _STOCK_TYPES]
            self.core.apply(stock)  # type: ignore[arg-type]
            for payload in stock:
                self._fold(payload)
            for envelope in envelopes:
                if type(envelope.data) not in _STOCK_TYPES:
                    self._fold(envelope.data)

    def _recall_answers(self, first: int, keys: list[int]) -> None:
        """Where each command's events are: a command's events are contiguous."""
        last = first + len(keys) - 1
        # Walking backwards, the last write of each key is its first position.
        starts = dict(zip(reversed(keys), range(last, first - 1, -1), strict=True))
        for key, count in Counter(keys).items():
            known = self.answered.get(key)
            if known is None:
                self.answered[key] = (starts[key], count)
            else:
                self.answered[key] = (known[0], known[1] + count)

    # ------------------------------------------------------------ intake

    def submit(self, commands: Sequence[AnyCommand], **commit_options: Any) -> list[Answer]:
        """Decide every command in order and commit the batch as one commit.

        `commit_options` go to the store with the batch's commit, even when
        the batch caused no event: the Kafka store's `consumed` (input offsets
        committed in the same transaction as the events) must land either way.
        """
        with self._collector_paused():
            batch = self._decide(commands, commit_options)
            self._settle(batch, self._store([batch])[0])
            return self._answers(batch)

    @contextmanager
    def _collector_paused(self) -> Iterator[None]:
        """With `freeze_gc`, no collection while a batch is decided and committed.

        A batch allocates tens of thousands of objects that all outlive it
        (state, envelopes, answers) or die by reference count (the store's
        records), so the collections it would trigger find nothing. They are
        frozen before the collector runs again: its first pass would otherwise
        scan them all (measured: 0.3 s over the demo's 50,000 orders on Kafka,
        680 passes that collected nothing).
        """
        if not self.settings.freeze_gc:
            yield
            return
        with collector_paused(freeze=True):
            yield

    def pipeline(self) -> Pipeline:
        """Submit batches while the previous one commits; see `Pipeline`."""
        return Pipeline(self)

    # The steps of a submit, in order: decide (in memory), store (the commit,
    # the only step that waits on I/O and the only one another thread may
    # run), settle (what only a committed batch may change), answer.

    def _decide(self, commands: Sequence[AnyCommand], options: dict[str, Any]) -> _Batch:
        if self._broken:
            msg = "a commit failed after its batch was decided; open the engine again"
            raise EngineBrokenError(msg)
        if len(commands) > self.settings.batch_size_max:
            msg = (
                f"a batch holds at most {self.settings.batch_size_max} commands "
                f"(batch_size_max), got {len(commands)}: split it"
            )
            raise ValueError(msg)
        self._pairs = []
        cids = command_uuids(list(map(_command_id, commands)))
        # command id (a UUID's int) -> (index of the command that decided it, its span of events)
        decided: dict[int, tuple[int, int, int]] = {}
        unsettled_keys = self._unsettled_keys
        for i, (command, cid) in enumerate(zip(commands, cids, strict=True)):
            key = cid.int
            if key in self.answered or key in decided or key in unsettled_keys:
                continue
            start = len(self._pairs)
            try:
                _HANDLERS[type(command)](self, command)
            except BaseException:
                # The batch's earlier commands are in memory but not in the store.
                self._broken = True
                raise
            decided[key] = (i, start, len(self._pairs))
        # Events in the order their commands decided them, each with its command.
        pairs = self._pairs
        order: list[tuple[str, Event]] = []
        causes: list[UUID] = []
        for index, start, end in decided.values():
            order += pairs[start:end]
            causes += [cids[index]] * (end - start)
        envelopes = self._stamper.stamp_caused(order, causes, timestamp=self.clock())
        self._pairs = []
        batch = _Batch(commands, cids, decided, envelopes, options)
        unsettled_keys.update(dict.fromkeys(decided, batch))
        return batch

    def _store(self, batches: Sequence[_Batch]) -> list[Sequence[int]]:
        """Commit `batches` as one commit; each batch's notification ids. A
        failure breaks the engine. Only a batch alone may carry commit options
        (a pipeline groups none that do), and they go to the store even when
        the batch caused no event: the Kafka store's `consumed` must land."""
        options = batches[0].options
        envelopes = [envelope for batch in batches for envelope in batch.envelopes]
        try:
            if envelopes:
                ids = commit(self.recorder, envelopes, **options)
            else:
                if options:
                    self.recorder.insert_events([], **options)
                ids = []
        except BaseException:
            self._broken = True
            raise
        spans = []
        start = 0
        for batch in batches:
            end = start + len(batch.envelopes)
            spans.append(ids[start:end])
            start = end
        return spans

    def _settle(self, batch: _Batch, ids: Sequence[int], *, snapshot_now: bool = True) -> None:
        unsettled_keys = self._unsettled_keys
        for key in batch.decided:
            del unsettled_keys[key]
        if not ids:
            return
        for key, (_index, start, end) in batch.decided.items():
            self.answered[key] = (ids[start], end - start)
        self._last_id = ids[-1]
        if snapshot_now and self.snapshots is not None:
            self._maybe_snapshot(ids[-1])

    def _answers(self, batch: _Batch) -> list[Answer]:
        answers = []
        for i, (command, cid) in enumerate(zip(batch.commands, batch.cids, strict=True)):
            index, start, end = batch.decided.get(cid.int, (-1, 0, 0))
            if index == i:
                answers.append(Answer(command.command_id, batch.envelopes[start:end]))
            else:
                answers.append(self._retry(command.command_id, cid))
        return answers

    def _snapshot_due_after(self, events: int) -> bool:
        """Would a snapshot be due once `events` more commit? (Ids run on from the last.)"""
        if self.snapshots is None or not events:
            return False
        position = self._last_id + events
        return position - self._snapshot_at >= self.settings.snapshot_every_events

    def _maybe_snapshot(self, position: int) -> None:
        """Save a snapshot when one is due. A snapshot only shortens the next
        start, and the batch before it is already committed, so one the store
        refuses (too large for a record, say) is logged and tried again after
        another `snapshot_every_events`, never raised to the batch's caller."""
        if position - self._snapshot_at < self.settings.snapshot_every_events:
            return
        assert self.snapshots is not None
        try:
            self._snapshot_at = snapshot.save(self, self.snapshots)
        except PersistenceError as error:
            _log.warning("snapshot at notification %d not saved: %s", position, error)
            self._snapshot_at = position

    def _retry(self, command_id: str, cid: UUID) -> Answer:
        """The first answer to a command: from a batch not yet settled, or from the store."""
        batch = self._unsettled_keys.get(cid.int)
        if batch is not None:
            _index, start, end = batch.decided[cid.int]
            return Answer(command_id, batch.envelopes[start:end], retry=True)
        first, count = self.answered[cid.int]
        stored = self.recorder.select_notifications(first, count)
        return Answer(command_id, [decode(n.state) for n in stored], retry=True)

    # ------------------------------------------------------------ folding

    def _emit(self, stream: str, payload: Event) -> None:
        self._pairs.append((stream, payload))
        self._fold(payload)

    def _fold(self, payload: Event) -> None:
        """Bring the state up to `payload`: the same code live and in recovery."""
        kind = type(payload)
        # Stock events are most of a batch's: told apart first, by exact type.
        if kind in _STOCK_TYPES:
            if kind is StockReserved:
                self.hold_orders[payload.hold_id] = payload.order_id  # type: ignore[union-attr]
            elif kind in _HOLD_ENDS and getattr(payload, "remaining", 0) == 0:
                self.hold_orders.pop(payload.hold_id, None)  # type: ignore[union-attr]
        elif isinstance(payload, OrderPayload):
            if isinstance(payload, OrderPlaced):
                self.orders[payload.order_id] = Order(payload)
            else:
                order = self.orders.get(payload.order_id)
                if order is not None:
                    order.apply(payload)
        elif isinstance(payload, CreditPayload):
            account = self._account(payload.customer_id)
            account.apply(payload)
            if isinstance(payload, InvoiceIssued):
                due = (payload.due_at, account.customer_id, payload.invoice_id)
                self._due.add(payload.due_at, due)
        elif isinstance(payload, ClockAdvanced):
            self.now = payload.now

    def _account(self, customer_id: str) -> CreditAccount:
        account = self.accounts.get(customer_id)
        if account is None:
            account = self.accounts[customer_id] = CreditAccount(customer_id)
        return account

    # ------------------------------------------------------------ rejections

    def _reject_order(
        self, command: AnyCommand, order_id: str, reason: CommandReason, detail: str
    ) -> None:
        self._emit(
            order_stream_id(order_id) if order_id else CLOCK_STREAM,
            OrderCommandRejected(
                order_id=order_id,
                command_id=command.command_id,
                command=type(command).__name__,
                reason=reason,
                detail=detail,
            ),
        )

    def _reject_credit(
        self, command: AnyCommand, customer_id: str, reason: CommandReason, detail: str
    ) -> None:
        self._emit(
            customer_stream_id(customer_id),
            CreditCommandRejected(
                customer_id=customer_id,
                command_id=command.command_id,
                command=type(command).__name__,
                reason=reason,
                detail=detail,
            ),
        )

    def _order_for(self, command: AnyCommand, order_id: str) -> Order | None:
        order = self.orders.get(order_id)
        if order is None:
            self._reject_order(
                command, order_id, CommandReason.UNKNOWN_ORDER, f"no order {order_id!r}"
            )
        return order

    def _wrong_state(self, command: AnyCommand, order: Order, allowed: str) -> None:
        name = type(command).__name__
        detail = f"order {order.order_id} is {order.status.value}; {name} needs it {allowed}"
        self._reject_order(command, order.order_id, CommandReason.INVALID_STATE, detail)

    # ------------------------------------------------------------ the saga

    def _place(self, command: PlaceOrder) -> None:
        if command.order_id in self.orders:
            detail = f"order {command.order_id} exists; a new order needs a new order id"
            self._reject_order(command, command.order_id, CommandReason.DUPLICATE_ORDER, detail)
            return
        stream = order_stream_id(command.order_id)
        self._emit(
            stream,
            OrderPlaced(
                order_id=command.order_id,
                customer_id=command.customer_id,
                channel=command.channel,
                campaign=command.campaign,
                payment_terms=command.payment_terms,
                ship_to=command.ship_to,
                lines=tuple(
                    [
                        OrderLine(line.sku, line.quantity, line.unit_price_cents)
                        for line in command.lines
                    ]
                ),
            ),
        )
        order = self.orders[command.order_id]
        account = self.accounts.get(command.customer_id)
        if not order.prepaid and (account is None or not account.opened):
            detail = (
                f"customer {command.customer_id} has no credit account: set a credit limit first"
            )
            self._emit(
                stream,
                OrderRejected(
                    order_id=order.order_id,
                    reason=OrderRejectionReason.NO_CREDIT_ACCOUNT,
                    detail=detail,
                ),
            )
            return
        ttl = self.settings.hold_ttl_s
        reserved = self.core.reserve(
            [(order.order_id, [(line.sku, line.quantity) for line in command.lines], ttl)], self.now
        )
        if reserved and type(reserved[0]) is StockRejected:
            rejection: StockRejected = reserved[0]
            reason = OrderRejectionReason(rejection.reason.value)
            self._emit(
                stream,
                OrderRejected(order_id=order.order_id, reason=reason, detail=rejection.detail),
            )
            return
        holds = []
        for event in reserved:
            self._emit(stock_stream_of(event), event)
            holds.append(OrderHold(event.sku, event.location, event.hold_id, event.quantity))  # type: ignore[union-attr]
        self._emit(
            stream,
            OrderStockReserved(
                order_id=order.order_id, holds=tuple(holds), expires_at=self.now + ttl
            ),
        )
        self._decide_credit(order)

    def _decide_credit(self, order: Order) -> None:
        stream = order_stream_id(order.order_id)
        if order.prepaid:
            if order.paid_cents >= order.total_cents:
                self._confirm(order)
            else:
                self._emit(
                    stream,
                    OrderCreditHeld(order_id=order.order_id, reason=HoldReason.AWAITING_PAYMENT),
                )
            return
        account = self.accounts[order.customer_id]
        decision = account.decide(order.order_id, order.total_cents, self.settings.credit)
        self._emit(customer_stream_id(order.customer_id), decision)
        if type(decision) is CreditApproved:
            self._confirm(order)
        elif type(decision) is CreditHeld:
            self._emit(stream, OrderCreditHeld(order_id=order.order_id, reason=decision.reason))
        else:
            detail = (
                f"exposure {decision.exposure_cents} + order {decision.amount_cents} cents "
                f"is over the limit {account.limit_cents} and its tolerance"
            )
            self._release(order)
            self._emit(
                stream,
                OrderRejected(
                    order_id=order.order_id,
                    reason=OrderRejectionReason.CREDIT_REJECTED,
                    detail=detail,
                ),
            )

    def _confirm(self, order: Order) -> None:
        for event in self.core.confirm(sorted(order.holds)):
            assert type(event) is not StockRejected, event
            self._emit(stock_stream_of(event), event)
        self._emit(
            order_stream_id(order.order_id),
            OrderConfirmed(order_id=order.order_id, total_cents=order.total_cents),
        )

    def _release(self, order: Order, ended: frozenset[int] = frozenset()) -> None:
        """Release the order's holds, but for those `ended` already (expired just now)."""
        open_holds = [(hold_id, None) for hold_id in sorted(order.holds) if hold_id not in ended]
        if not open_holds:
            return
        for event in self.core.release(open_holds):
            assert type(event) is not StockRejected, event
            self._emit(stock_stream_of(event), event)

    def _release_credit(self, order: Order) -> None:
        account = self.accounts.get(order.customer_id)
        if account is not None and order.order_id in account.approved:
            amount = account.approved[order.order_id]
            self._emit(
                customer_stream_id(order.customer_id),
                CreditReleased(
                    customer_id=order.customer_id, order_id=order.order_id, amount_cents=amount
                ),
            )

    def _cancel(self, command: CancelOrder) -> None:
        order = self._order_for(command, command.order_id)
        if order is None:
            return
        if order.status not in CANCELLABLE:
            self._wrong_state(command, order, "reserved, held or confirmed, before any shipment")
            return
        self._release(order)
        self._release_credit(order)
        self._emit(
            order_stream_id(order.order_id),
            OrderCancelled(order_id=order.order_id, reason=command.reason),
        )

    def _capture(self, command: CapturePayment) -> None:
        order = self._order_for(command, command.order_id)
        if order is None:
            return
        if not order.prepaid:
            detail = (
                f"order {order.order_id} is on {order.payment_terms} terms; "
                "its payments go to the customer's account (RecordPayment)"
            )
            self._reject_order(command, order.order_id, CommandReason.INVALID_COMMAND, detail)
            return
        if order.status not in AWAITING_DECISION:
            self._wrong_state(command, order, "awaiting its payment")
            return
        self._emit(
            order_stream_id(order.order_id),
            PaymentCaptured(
                order_id=order.order_id,
                payment_id=command.payment_id,
                amount_cents=command.amount_cents,
            ),
        )
        if (
            order.held_reason is HoldReason.AWAITING_PAYMENT
            and order.paid_cents >= order.total_cents
        ):
            self._confirm(order)

    def _review(self, command: DecideCreditReview) -> None:
        order = self._order_for(command, command.order_id)
        if order is None:
            return
        if (
            order.status is not OrderStatus.CREDIT_HELD
            or order.held_reason is HoldReason.AWAITING_PAYMENT
        ):
            self._wrong_state(command, order, "held for credit review")
            return
        account = self.accounts[order.customer_id]
        self._emit(
            customer_stream_id(order.customer_id),
            CreditReviewDecided(
                customer_id=order.customer_id,
                order_id=order.order_id,
                approved=command.approve,
                decided_by=command.decided_by,
                why=command.why,
                amount_cents=order.total_cents,
                exposure_cents=account.exposure_cents,
            ),
        )
        if command.approve:
            self._confirm(order)
        else:
            self._release(order)
            self._emit(
                order_stream_id(order.order_id),
                OrderRejected(
                    order_id=order.order_id,
                    reason=OrderRejectionReason.CREDIT_REJECTED,
                    detail=f"review by {command.decided_by}: {command.why}",
                ),
            )

    def _ship(self, command: ShipLines) -> None:
        order = self._order_for(command, command.order_id)
        if order is None:
            return
        if order.status not in SHIPPABLE:
            self._wrong_state(command, order, "confirmed")
            return
        if command.shipment_id in order.shipments:
            detail = f"order {order.order_id} already has shipment {command.shipment_id!r}"
            self._reject_order(command, order.order_id, CommandReason.INVALID_COMMAND, detail)
            return
        draws = self._draws(command, order)
        if draws is None:
            return
        for event in self.core.ship(draws):
            assert type(event) is not StockRejected, event
            self._emit(stock_stream_of(event), event)
        # Priced before the shipment is folded in: these units come after
        # what had shipped before.
        value = sum(
            order.value_of(line.sku, line.quantity, order.shipped.get(line.sku, 0))
            for line in _summed(command.lines)
        )
        lines = tuple(LineQuantity(line.sku, line.quantity) for line in command.lines)
        self._emit(
            order_stream_id(order.order_id),
            LinesShipped(
                order_id=order.order_id,
                shipment_id=command.shipment_id,
                location=command.location,
                lines=lines,
            ),
        )
        if not order.prepaid:
            account = self.accounts[order.customer_id]
            self._emit(
                customer_stream_id(order.customer_id),
                InvoiceIssued(
                    customer_id=order.customer_id,
                    invoice_id=f"{order.order_id}/{command.shipment_id}",
                    order_id=order.order_id,
                    amount_cents=value,
                    due_at=self.now + account.net_days * SECONDS_PER_DAY,
                ),
            )

    def _draws(self, command: ShipLines, order: Order) -> list[tuple[int, int]] | None:
        """The holds a shipment draws on, or None (and a rejection) if it cannot ship.

        Checked whole before the core changes anything: each SKU's total
        against the order's holds at the location, and against what is on
        hand there (a backordered hold may hold more than has arrived).
        """
        draws: list[tuple[int, int]] = []
        for line in _summed(command.lines):
            taken = order.take(line.sku, command.location, line.quantity)
            held = sum(amount for _, amount in taken)
            slot = self.core.slot(line.sku, command.location)
            on_hand = 0 if slot is None else slot.on_hand
            if held < line.quantity or on_hand < line.quantity:
                detail = (
                    f"order {order.order_id} holds {held} of {line.sku} at "
                    f"{command.location} and {on_hand} are on hand; cannot ship {line.quantity}"
                )
                self._reject_order(command, order.order_id, CommandReason.INVALID_COMMAND, detail)
                return None
            draws += [(hold.hold_id, amount) for hold, amount in taken]
        return draws

    def _deliver(self, command: DeliverOrder) -> None:
        order = self._order_for(command, command.order_id)
        if order is None:
            return
        if command.shipment_id not in order.shipments or command.shipment_id in order.delivered:
            detail = f"order {order.order_id} has no undelivered shipment {command.shipment_id!r}"
            self._reject_order(command, order.order_id, CommandReason.INVALID_COMMAND, detail)
            return
        self._emit(
            order_stream_id(order.order_id),
            OrderDelivered(order_id=order.order_id, shipment_id=command.shipment_id),
        )

    def _return(self, command: ReturnLines) -> None:
        order = self._order_for(command, command.order_id)
        if order is None:
            return
        for line in _summed(command.lines):
            returnable = order.shipped.get(line.sku, 0) - order.returned.get(line.sku, 0)
            if line.quantity > returnable:
                detail = (
                    f"order {order.order_id} can return {returnable} of {line.sku}, "
                    f"not {line.quantity}"
                )
                self._reject_order(command, order.order_id, CommandReason.INVALID_COMMAND, detail)
                return
        for returned_line in command.lines:
            restocked = returned_line.disposition is Disposition.RESTOCK
            if restocked and self.core.slot(returned_line.sku, returned_line.location) is None:
                detail = (
                    f"{returned_line.sku} is not stocked at {returned_line.location}; "
                    "restock it where it is stocked"
                )
                self._reject_order(command, order.order_id, CommandReason.INVALID_COMMAND, detail)
                return
        restock = [
            (line.sku, line.location, line.quantity, command.return_id)
            for line in command.lines
            if line.disposition is Disposition.RESTOCK
        ]
        for event in self.core.restock(restock) if restock else []:
            self._emit(stock_stream_of(event), event)
        # Priced before the return is folded in: these units come after
        # what had been returned before.
        amount = sum(
            order.value_of(line.sku, line.quantity, order.returned.get(line.sku, 0))
            for line in _summed(command.lines)
        )
        returned = tuple(
            ReturnedLine(line.sku, line.quantity, line.disposition) for line in command.lines
        )
        self._emit(
            order_stream_id(order.order_id),
            LinesReturned(order_id=order.order_id, return_id=command.return_id, lines=returned),
        )
        if not order.prepaid:
            self._emit(
                customer_stream_id(order.customer_id),
                CreditNoteIssued(
                    customer_id=order.customer_id,
                    order_id=order.order_id,
                    return_id=command.return_id,
                    amount_cents=amount,
                ),
            )

    # ------------------------------------------------------------ stock

    def _stock(self, events: list[StockEvent]) -> None:
        for event in events:
            self._emit(stock_stream_of(event), event)

    def _configure(self, command: ConfigureSlot) -> None:
        self._stock(
            self.core.configure(
                [
                    (
                        command.sku,
                        command.location,
                        command.priority,
                        command.safety_stock,
                        command.backorder_limit,
                    )
                ]
            )
        )

    def _receive(self, command: ReceiveStock) -> None:
        self._stock(
            self.core.receive(
                [(command.sku, command.location, command.quantity, command.reference)]
            )
        )

    def _adjust(self, command: AdjustStock) -> None:
        if command.delta is not None and command.set_to is None and command.expected is None:
            self._stock(
                self.core.adjust(
                    [
                        (
                            command.sku,
                            command.location,
                            command.delta,
                            command.reason,
                            command.reference,
                        )
                    ]
                )
            )
        elif command.delta is None and command.set_to is not None and command.expected is not None:
            item = (
                command.sku,
                command.location,
                command.set_to,
                command.expected,
                command.reason,
                command.reference,
            )
            self._stock(self.core.set_on_hand([item]))
        else:
            self._stock(
                [
                    StockRejected(
                        operation="adjust",
                        reason=Reason.QUANTITY_OUT_OF_RANGE,
                        detail="give either delta, or set_to with expected",
                        reference=command.reference,
                        sku=command.sku,
                        location=command.location,
                    )
                ]
            )

    # ------------------------------------------------------------ credit

    def _set_limit(self, command: SetCreditLimit) -> None:
        self._emit(
            customer_stream_id(command.customer_id),
            CreditLimitSet(
                customer_id=command.customer_id,
                limit_cents=command.limit_cents,
                payment_terms=command.payment_terms,
            ),
        )

    def _payment(self, command: RecordPayment) -> None:
        account = self.accounts.get(command.customer_id)
        if account is None or not account.opened:
            detail = f"no credit account {command.customer_id!r}: set a credit limit first"
            self._reject_credit(
                command, command.customer_id, CommandReason.UNKNOWN_CUSTOMER, detail
            )
            return
        self._emit(
            customer_stream_id(command.customer_id),
            PaymentRecorded(
                customer_id=command.customer_id,
                payment_id=command.payment_id,
                amount_cents=command.amount_cents,
            ),
        )

    # ------------------------------------------------------------ the clock

    def _advance(self, command: AdvanceClock) -> None:
        if command.now <= self.now:
            detail = f"the clock is at {self.now}; it only moves forward"
            self._reject_order(command, "", CommandReason.INVALID_COMMAND, detail)
            return
        self._emit(CLOCK_STREAM, ClockAdvanced(now=command.now))
        self._expire_holds()
        self._flag_overdue()

    def _expire_holds(self) -> None:
        expired_orders: dict[str, None] = {}
        expired: set[int] = set()
        while True:
            events = self.core.expire(self.now)
            for event in events:
                assert isinstance(event, HoldExpired), event
                order_id = self.hold_orders.get(event.hold_id)
                self._emit(stock_stream_of(event), event)
                expired.add(event.hold_id)
                if order_id is not None:
                    expired_orders[order_id] = None
            if len(events) < self.core.limits.batch_size_max:
                break
        ended = frozenset(expired)
        for order_id in expired_orders:
            order = self.orders[order_id]
            if order.status in AWAITING_DECISION:
                self._release(order, ended)
                self._emit(order_stream_id(order_id), OrderExpired(order_id=order_id))

    def _flag_overdue(self) -> None:
        # Those due before now, by due time, then customer and invoice id.
        for due_at, customer_id, invoice_id in sorted(self._due.take(self.now - 1)):
            invoice = self.accounts[customer_id].invoices.get(invoice_id)
            if invoice is not None and not invoice.overdue:
                self._emit(
                    customer_stream_id(customer_id),
                    InvoiceOverdue(
                        customer_id=customer_id,
                        invoice_id=invoice_id,
                        outstanding_cents=invoice.outstanding_cents,
                        due_at=due_at,
                    ),
                )


def _summed(lines: Sequence[SkuQuantity | ReturnLine]) -> list[SkuQuantity]:
    """Quantities per SKU, first mention first: a SKU named twice counts once, in full."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.sku] = totals.get(line.sku, 0) + line.quantity
    return [SkuQuantity(sku, quantity) for sku, quantity in totals.items()]


@dataclass(eq=False)
class _Batch:
    """A batch decided: its commands, their ids, what each decided, its events."""

    commands: Sequence[AnyCommand]
    cids: list[UUID]
    # command id (a UUID's int) -> (index of the deciding command, its span of events)
    decided: dict[int, tuple[int, int, int]]
    envelopes: list[Envelope]
    options: dict[str, Any]


class Pipeline:
    """Batches decided while earlier ones commit: the engine's group commit.

    A commit mostly waits (on the disk's sync, or on Kafka's transaction round
    trips) and the engine's deciding never does, so the two overlap: `submit`
    decides a batch in memory, queues it for a writer thread and returns its
    answers. Whenever the writer is free it takes every batch queued so far
    and commits them as one commit, so the slower the store, the more batches
    share a commit and the fewer commits pay its fixed cost: with Kafka's
    transactions, the demo's 100-order batches otherwise paid one each.

    Answers are decided but not yet durable when `submit` returns: they are
    durable once `flush` returns (leaving the `with` block flushes). `submit`
    waits for the writer only when more than `group_events_max` events are
    queued, so memory and a commit's size stay bounded. A failed commit breaks
    the engine, as in `Engine.submit`, and is raised by a later `submit` or
    by `flush`; nothing decided after it is ever committed (commits run one at
    a time, in order). A batch with commit options (the Kafka store's
    `consumed`, say) is committed on its own, as `Engine.submit` would.

    Snapshots are taken only with nothing in flight: when one is due, `submit`
    first flushes.
    """

    def __init__(self, engine: Engine, *, group_events_max: int = GROUP_EVENTS_MAX) -> None:
        if group_events_max < 1:
            msg = f"group_events_max is {group_events_max}; give at least 1"
            raise ValueError(msg)
        self.engine = engine
        self.group_events_max = group_events_max
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-commit")
        self._in_flight: tuple[list[_Batch], Future[list[Sequence[int]]]] | None = None
        self._queued: list[_Batch] = []

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self.flush()
        finally:
            self._writer.shutdown(wait=True)

    def submit(self, commands: Sequence[AnyCommand], **commit_options: Any) -> list[Answer]:
        # The commits in flight mostly run while the next batch is decided:
        # the collector's pause covers both.
        with self.engine._collector_paused():
            return self._submit(commands, commit_options)

    def _submit(
        self, commands: Sequence[AnyCommand], commit_options: dict[str, Any]
    ) -> list[Answer]:
        engine = self.engine
        in_flight = self._in_flight[0] if self._in_flight is not None else []
        if engine._snapshot_due_after(_events_in(self._queued) + _events_in(in_flight)):
            self.flush()
        try:
            batch = engine._decide(commands, commit_options)
        except EngineBrokenError:
            # Broken by a commit in flight: raise that commit's own error.
            self.flush()
            raise
        self._queued.append(batch)
        self._pump(wait=_events_in(self._queued) > self.group_events_max)
        return engine._answers(batch)

    def flush(self) -> None:
        """Wait until every batch submitted is committed (or raise why not)."""
        while self._in_flight is not None or self._queued:
            self._pump(wait=True, snapshot_now=True)
        if self.engine._broken:
            # Its cause (a failed commit, or a command's handler raising) was
            # raised once already; what was decided after it is not committed.
            msg = "the engine broke (a commit or a command's handler failed); open it again"
            raise EngineBrokenError(msg)

    def _pump(self, *, wait: bool, snapshot_now: bool = False) -> None:
        """Settle the commit in flight if it is done (or `wait` for it), then
        hand the writer every batch queued, as one commit."""
        if self._in_flight is not None:
            group, pending = self._in_flight
            if not (wait or pending.done()):
                return
            self._in_flight = None
            try:
                ids = pending.result()
            except BaseException:
                # Nothing queued behind a failed commit may land.
                self._queued = []
                raise
            last = len(group) - 1
            for i, (batch, batch_ids) in enumerate(zip(group, ids, strict=True)):
                quiet = i == last and not self._queued
                self.engine._settle(batch, batch_ids, snapshot_now=snapshot_now and quiet)
        if self._queued:
            group = self._take_group()
            self._in_flight = (group, self._writer.submit(self.engine._store, group))

    def _take_group(self) -> list[_Batch]:
        """The queued batches the next commit takes: from the first, every one
        after it without commit options, up to `group_events_max` events."""
        queued = self._queued
        taken, events = 1, len(queued[0].envelopes)
        if not queued[0].options:
            while taken < len(queued) and not queued[taken].options:
                events += len(queued[taken].envelopes)
                if events > self.group_events_max:
                    break
                taken += 1
        group, self._queued = queued[:taken], queued[taken:]
        return group


def _events_in(batches: Sequence[_Batch]) -> int:
    return sum(len(batch.envelopes) for batch in batches)


_HANDLERS: Final[dict[type, Callable[[Engine, Any], None]]] = {
    PlaceOrder: Engine._place,
    CancelOrder: Engine._cancel,
    CapturePayment: Engine._capture,
    ShipLines: Engine._ship,
    DeliverOrder: Engine._deliver,
    ReturnLines: Engine._return,
    ConfigureSlot: Engine._configure,
    ReceiveStock: Engine._receive,
    AdjustStock: Engine._adjust,
    SetCreditLimit: Engine._set_limit,
    RecordPayment: Engine._payment,
    DecideCreditReview: Engine._review,
    AdvanceClock: Engine._advance,
}


def _commits(recorder: ApplicationRecorder, after: int) -> Iterator[tuple[int, Sequence[Lineage]]]:
    """The store's events after notification `after`, a run of consecutive ids at a time.

    `after` is always the end of a commit (a snapshot is taken between batches).
    """
    if isinstance(recorder, CommitReader):
        # A commit at a time, decoded in one call: recovery is bound by folding.
        for first, commit in recorder.read_commits(after):
            yield first, lineages_of_array(commit.states_array)
        return
    last = after
    while page := recorder.select_notifications(last, 10_000, inclusive_of_start=False):
        yield (
            page[0].id,
            lineages_of_array(msgspec.msgpack.encode([msgspec.Raw(n.state) for n in page])),
        )
        last = page[-1].id
