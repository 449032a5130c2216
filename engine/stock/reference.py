"""The pure-Python reference model of the stock core: the oracle.

Written for obviousness, not speed: dicts and lists, one method per
operation, the rules spelled out in the order they are checked. `StockCore`
must produce the same events and the same `state()` for any sequence of calls.

The rules, shared with the core:

- A slot's headroom is `on_hand - safety_stock + backorder_limit - reserved`.
  Invariant: `reserved == 0 or headroom >= 0` (a fresh slot with safety stock
  and nothing on hand is not broken, it just cannot be reserved from).
  Anything that would break it is rejected with INSUFFICIENT_STOCK: an adjust
  or set_on_hand that shrinks on_hand, a configure that raises safety_stock
  or lowers backorder_limit, a ship of a backordered hold with no goods.
- No quantity is negative, and on_hand never exceeds `quantity_max`.
- An order reserves all its lines or nothing. Its checks run in this order:
  line count, ttl, then each line's SKU and quantity, then allocation line
  by line. A line takes from its SKU's slots by (priority, location) and
  splits across them, one hold per slot it draws from.
- Hold ids are issued 1, 2, 3... with no gaps: a refused order issues none.
- `expire(now)` ends open, unconfirmed holds with expires_at <= now, in
  (expires_at, hold_id) order, at most `batch_size_max` of them per call.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.stock import rejections
from engine.stock.commands import (
    AdjustItem,
    ConfigureItem,
    Order,
    OrderLine,
    ReceiveItem,
    ReleaseItem,
    SetOnHandItem,
    ShipItem,
    check_hold_ids,
    check_items,
    check_orders,
    check_releases,
)
from engine.stock.compact import check_layout
from engine.stock.errors import InvariantError
from engine.stock.events import (
    HoldConfirmed,
    HoldExpired,
    HoldReleased,
    SlotConfigured,
    StockAdjusted,
    StockEvent,
    StockPayload,
    StockReceived,
    StockRejected,
    StockReserved,
    StockRestocked,
    StockShipped,
)
from engine.stock.limits import StockLimits, check_clock
from engine.stock.rejections import OrderFault
from engine.stock.state import (
    HoldState,
    SlotState,
    StockState,
    decode_snapshot,
    encode_snapshot,
)


@dataclass
class _Slot:
    sku: str
    location: str
    priority: int
    safety_stock: int
    backorder_limit: int
    on_hand: int = 0
    reserved: int = 0

    def headroom(self) -> int:
        return self.on_hand - self.safety_stock + self.backorder_limit - self.reserved

    def state(self) -> SlotState:
        return SlotState(
            self.sku,
            self.location,
            self.priority,
            self.safety_stock,
            self.backorder_limit,
            self.on_hand,
            self.reserved,
        )

    def assert_sound(self, quantity_max: int) -> None:
        """The live invariants of one slot, checked after every change to it."""
        quantities = (self.on_hand, self.reserved, self.safety_stock, self.backorder_limit)
        if (
            min(quantities) < 0
            or self.on_hand > quantity_max
            or not self.covers(self.on_hand, self.safety_stock, self.backorder_limit)
        ):
            raise InvariantError(f"slot broke an invariant: {self.state()}")

    def covers(self, on_hand: int, safety_stock: int, backorder_limit: int) -> bool:
        """Would these settings still cover what is reserved?"""
        return self.reserved == 0 or on_hand - safety_stock + backorder_limit >= self.reserved


@dataclass
class _Hold:
    hold_id: int
    slot: _Slot
    quantity: int
    expires_at: int
    confirmed: bool = False


class ReferenceReserveLog:
    """The reference's answer to `reserve_compact`: the events, already built."""

    def __init__(self, events: list[StockEvent]) -> None:
        self._events = events

    @property
    def reserved_count(self) -> int:
        return sum(isinstance(event, StockReserved) for event in self._events)

    @property
    def rejected_count(self) -> int:
        return sum(isinstance(event, StockRejected) for event in self._events)

    @property
    def reserved_quantity(self) -> int:
        return sum(event.quantity for event in self._events if isinstance(event, StockReserved))

    def events(self) -> list[StockEvent]:
        return list(self._events)

    def __len__(self) -> int:
        return len(self._events)


class ReferenceStock:
    def __init__(self, limits: StockLimits | None = None) -> None:
        self._limits = limits if limits is not None else StockLimits()
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._by_sku: dict[str, list[_Slot]] = {}
        self._sku_indices: dict[str, int] = {}
        self._holds: dict[int, _Hold] = {}
        self._next_hold_id = 1

    @property
    def limits(self) -> StockLimits:
        return self._limits

    def sku_index(self, sku: str) -> int:
        """The SKU's index for the compact API (order of first configure); -1 if unknown."""
        return self._sku_indices.get(sku, -1)

    # configure

    def configure(self, slots: Sequence[ConfigureItem]) -> list[StockEvent]:
        check_items("configure", slots, self._limits)
        return [self._configure(*item) for item in slots]

    def _configure(
        self, sku: str, location: str, priority: int, safety_stock: int, backorder_limit: int
    ) -> StockEvent:
        limits = self._limits
        for field, key in (("sku", sku), ("location", location)):
            size = len(key.encode())
            if not 1 <= size <= limits.key_bytes_max:
                return rejections.key_too_long("configure", field, key, size, limits.key_bytes_max)
        for field, value, high in (
            ("priority", priority, limits.priority_max),
            ("safety_stock", safety_stock, limits.quantity_max),
            ("backorder_limit", backorder_limit, limits.quantity_max),
        ):
            if not 0 <= value <= high:
                return rejections.out_of_range(
                    "configure", field, value, 0, high, sku=sku, location=location
                )
        slot = self._slots.get((sku, location))
        if slot is None:
            refused = self._refuse_new_slot(sku, location)
            if refused is not None:
                return refused
        elif not slot.covers(slot.on_hand, safety_stock, backorder_limit):
            return rejections.uncovered_reservations(
                "configure",
                sku,
                location,
                "",
                slot.on_hand,
                safety_stock,
                backorder_limit,
                slot.reserved,
            )
        event = SlotConfigured(
            sku=sku,
            location=location,
            priority=priority,
            safety_stock=safety_stock,
            backorder_limit=backorder_limit,
        )
        self._apply_configured(event)
        return event

    def _refuse_new_slot(self, sku: str, location: str) -> StockRejected | None:
        limits = self._limits
        if len(self._slots) >= limits.sku_slots_max:
            return rejections.limit_exceeded(
                "configure",
                f"sku_slots_max {limits.sku_slots_max} reached",
                sku=sku,
                location=location,
            )
        if len(self._by_sku.get(sku, ())) >= limits.locations_per_sku_max:
            return rejections.limit_exceeded(
                "configure",
                f"locations_per_sku_max {limits.locations_per_sku_max} reached",
                sku=sku,
                location=location,
            )
        return None

    # receive, restock, adjust, set_on_hand

    def receive(self, items: Sequence[ReceiveItem]) -> list[StockEvent]:
        check_items("receive", items, self._limits)
        return [self._add("receive", *item) for item in items]

    def restock(self, items: Sequence[ReceiveItem]) -> list[StockEvent]:
        check_items("restock", items, self._limits)
        return [self._add("restock", *item) for item in items]

    def _find_slot(
        self, operation: str, sku: str, location: str, reference: str
    ) -> _Slot | StockRejected:
        if sku not in self._by_sku:
            return rejections.unknown_sku(operation, sku, reference)
        slot = self._slots.get((sku, location))
        if slot is None:
            return rejections.unknown_location(operation, sku, location, reference)
        return slot

    def _add(
        self, operation: str, sku: str, location: str, quantity: int, reference: str
    ) -> StockEvent:
        slot = self._find_slot(operation, sku, location, reference)
        if isinstance(slot, StockRejected):
            return slot
        quantity_max = self._limits.quantity_max
        if not 1 <= quantity <= quantity_max:
            return rejections.out_of_range(
                operation,
                "quantity",
                quantity,
                1,
                quantity_max,
                reference=reference,
                sku=sku,
                location=location,
            )
        on_hand = slot.on_hand + quantity
        if on_hand > quantity_max:
            return self._on_hand_too_large(operation, slot, on_hand, reference)
        event: StockEvent
        if operation == "receive":
            event = StockReceived(
                sku=sku, location=location, quantity=quantity, reference=reference, on_hand=on_hand
            )
        else:
            event = StockRestocked(
                sku=sku, location=location, quantity=quantity, reference=reference, on_hand=on_hand
            )
        slot.on_hand = on_hand
        slot.assert_sound(quantity_max)
        return event

    def _on_hand_too_large(
        self, operation: str, slot: _Slot, on_hand: int, reference: str
    ) -> StockRejected:
        return rejections.limit_exceeded(
            operation,
            f"on_hand would be {on_hand}; quantity_max is {self._limits.quantity_max}",
            reference=reference,
            sku=slot.sku,
            location=slot.location,
        )

    def adjust(self, items: Sequence[AdjustItem]) -> list[StockEvent]:
        check_items("adjust", items, self._limits)
        return [self._adjust(*item) for item in items]

    def _adjust(
        self, sku: str, location: str, delta: int, reason: str, reference: str
    ) -> StockEvent:
        slot = self._find_slot("adjust", sku, location, reference)
        if isinstance(slot, StockRejected):
            return slot
        quantity_max = self._limits.quantity_max
        if delta == 0 or not -quantity_max <= delta <= quantity_max:
            return rejections.out_of_range(
                "adjust",
                "delta",
                delta,
                -quantity_max,
                quantity_max,
                reference=reference,
                sku=sku,
                location=location,
            )
        return self._set("adjust", slot, slot.on_hand + delta, reason, reference)

    def set_on_hand(self, items: Sequence[SetOnHandItem]) -> list[StockEvent]:
        check_items("set_on_hand", items, self._limits)
        return [self._set_on_hand(*item) for item in items]

    def _set_on_hand(
        self, sku: str, location: str, quantity: int, expected: int, reason: str, reference: str
    ) -> StockEvent:
        slot = self._find_slot("set_on_hand", sku, location, reference)
        if isinstance(slot, StockRejected):
            return slot
        quantity_max = self._limits.quantity_max
        if not 0 <= quantity <= quantity_max:
            return rejections.out_of_range(
                "set_on_hand",
                "quantity",
                quantity,
                0,
                quantity_max,
                reference=reference,
                sku=sku,
                location=location,
            )
        if expected != slot.on_hand:
            return rejections.stale_expected(sku, location, reference, expected, slot.on_hand)
        return self._set("set_on_hand", slot, quantity, reason, reference)

    def _set(
        self, operation: str, slot: _Slot, on_hand: int, reason: str, reference: str
    ) -> StockEvent:
        """Move on_hand to a new level that adjust or set_on_hand asked for."""
        if on_hand < 0:
            return rejections.insufficient(
                operation,
                f"on_hand would be {on_hand}",
                reference=reference,
                sku=slot.sku,
                location=slot.location,
            )
        if on_hand > self._limits.quantity_max:
            return self._on_hand_too_large(operation, slot, on_hand, reference)
        if not slot.covers(on_hand, slot.safety_stock, slot.backorder_limit):
            return rejections.uncovered_reservations(
                operation,
                slot.sku,
                slot.location,
                reference,
                on_hand,
                slot.safety_stock,
                slot.backorder_limit,
                slot.reserved,
            )
        event = StockAdjusted(
            sku=slot.sku,
            location=slot.location,
            delta=on_hand - slot.on_hand,
            reason=reason,
            reference=reference,
            on_hand=on_hand,
        )
        slot.on_hand = on_hand
        slot.assert_sound(self._limits.quantity_max)
        return event

    # reserve

    def reserve(self, orders: Sequence[Order], now: int) -> list[StockEvent]:
        check_orders(orders, self._limits)
        check_clock("reserve", now, self._limits)
        events: list[StockEvent] = []
        for order_id, lines, ttl in orders:
            events.extend(self._reserve(order_id, lines, ttl, now))
        return events

    def reserve_compact(
        self,
        order_ids: Sequence[str],
        line_starts: array[int],
        line_skus: array[int],
        line_quantities: array[int],
        ttls: array[int],
        now: int,
        unknown_skus: Sequence[str] = (),
    ) -> ReferenceReserveLog:
        """`reserve` on the compact layout of `engine.stock.compact`."""
        skus = list(self._sku_indices)
        check_layout(
            order_ids,
            line_starts,
            line_skus,
            line_quantities,
            ttls,
            len(unknown_skus),
            len(skus),
            now,
            self._limits,
        )
        events: list[StockEvent] = []
        for i, order_id in enumerate(order_ids):
            lines = [
                (skus[s] if s >= 0 else unknown_skus[-s - 1], line_quantities[j])
                for j, s in enumerate(
                    line_skus[line_starts[i] : line_starts[i + 1]], line_starts[i]
                )
            ]
            events.extend(self._reserve(order_id, lines, ttls[i], now))
        return ReferenceReserveLog(events)

    def _reserve(
        self, order_id: str, lines: Sequence[OrderLine], ttl: int, now: int
    ) -> list[StockEvent]:
        limits = self._limits
        fault: tuple[OrderFault, int, str, int, int] | None = None
        if not lines:
            fault = (OrderFault.NO_LINES, 0, "", 0, 0)
        elif len(lines) > limits.lines_per_order_max:
            fault = (OrderFault.TOO_MANY_LINES, 0, "", 0, len(lines))
        elif not 1 <= ttl <= limits.ttl_max:
            fault = (OrderFault.TTL_OUT_OF_RANGE, 0, "", 0, ttl)
        else:
            fault = self._check_lines(lines)
        if fault is None:
            events, fault = self._allocate(order_id, lines, now + ttl)
            if fault is None:
                return events
        kind, line, sku, quantity, value = fault
        return [rejections.order_rejected(kind, order_id, line, sku, quantity, value, limits)]

    def _check_lines(
        self, lines: Sequence[OrderLine]
    ) -> tuple[OrderFault, int, str, int, int] | None:
        for line, (sku, quantity) in enumerate(lines):
            if sku not in self._by_sku:
                return (OrderFault.UNKNOWN_SKU, line, sku, quantity, 0)
            if not 1 <= quantity <= self._limits.quantity_max:
                return (OrderFault.QUANTITY_OUT_OF_RANGE, line, sku, quantity, 0)
        return None

    def _allocate(
        self, order_id: str, lines: Sequence[OrderLine], expires_at: int
    ) -> tuple[list[StockEvent], tuple[OrderFault, int, str, int, int] | None]:
        """Allocate every line, or roll back what this order took and say why."""
        events: list[StockEvent] = []
        for line, (sku, quantity) in enumerate(lines):
            fault = self._allocate_line(order_id, sku, quantity, expires_at, events)
            if fault is not None:
                self._roll_back(events)
                return [], (fault[0], line, sku, quantity, fault[1])
        return events, None

    def _allocate_line(
        self, order_id: str, sku: str, quantity: int, expires_at: int, events: list[StockEvent]
    ) -> tuple[OrderFault, int] | None:
        slots = self._by_sku[sku]
        available = sum(max(0, slot.headroom()) for slot in slots)
        if available < quantity:
            return (OrderFault.INSUFFICIENT_STOCK, available)
        remaining = quantity
        for slot in slots:
            take = min(max(0, slot.headroom()), remaining)
            if take == 0:
                continue
            if len(self._holds) >= self._limits.open_holds_max:
                return (OrderFault.OPEN_HOLDS_FULL, 0)
            events.append(self._open_hold(order_id, slot, take, expires_at))
            remaining -= take
            if remaining == 0:
                break
        return None

    def _open_hold(
        self, order_id: str, slot: _Slot, quantity: int, expires_at: int
    ) -> StockReserved:
        hold_id = self._next_hold_id
        self._next_hold_id += 1
        self._holds[hold_id] = _Hold(hold_id, slot, quantity, expires_at)
        slot.reserved += quantity
        slot.assert_sound(self._limits.quantity_max)
        return StockReserved(
            sku=slot.sku,
            location=slot.location,
            hold_id=hold_id,
            order_id=order_id,
            quantity=quantity,
            expires_at=expires_at,
            reserved=slot.reserved,
        )

    def _roll_back(self, events: list[StockEvent]) -> None:
        for event in reversed(events):
            assert isinstance(event, StockReserved)
            hold = self._holds.pop(event.hold_id)
            hold.slot.reserved -= hold.quantity
            self._next_hold_id -= 1

    # confirm, release, ship, expire

    def _find_hold(self, operation: str, hold_id: int) -> _Hold | StockRejected:
        if not 1 <= hold_id < self._next_hold_id:
            return rejections.unknown_hold(operation, hold_id)
        hold = self._holds.get(hold_id)
        if hold is None:
            return rejections.hold_ended(operation, hold_id)
        return hold

    def confirm(self, hold_ids: Sequence[int]) -> list[StockEvent]:
        check_hold_ids(hold_ids, self._limits)
        return [self._confirm(hold_id) for hold_id in hold_ids]

    def _confirm(self, hold_id: int) -> StockEvent:
        hold = self._find_hold("confirm", hold_id)
        if isinstance(hold, StockRejected):
            return hold
        slot = hold.slot
        if hold.confirmed:
            return rejections.already_confirmed(hold_id, slot.sku, slot.location)
        hold.confirmed = True
        return HoldConfirmed(
            sku=slot.sku, location=slot.location, hold_id=hold_id, quantity=hold.quantity
        )

    def release(self, items: Sequence[ReleaseItem]) -> list[StockEvent]:
        check_releases(items, self._limits)
        return [self._release(hold_id, quantity) for hold_id, quantity in items]

    def _release(self, hold_id: int, quantity: int | None) -> StockEvent:
        hold = self._find_hold("release", hold_id)
        if isinstance(hold, StockRejected):
            return hold
        slot = hold.slot
        if quantity is None:
            quantity = hold.quantity
        if not 1 <= quantity <= hold.quantity:
            return rejections.out_of_range(
                "release",
                "quantity",
                quantity,
                1,
                hold.quantity,
                sku=slot.sku,
                location=slot.location,
                hold_id=hold_id,
            )
        self._take_from_hold(hold, quantity)
        return HoldReleased(
            sku=slot.sku,
            location=slot.location,
            hold_id=hold_id,
            quantity=quantity,
            remaining=hold.quantity,
            reserved=slot.reserved,
        )

    def _take_from_hold(self, hold: _Hold, quantity: int) -> None:
        """Reduce a hold and its slot's reservation; the hold ends at zero."""
        hold.quantity -= quantity
        hold.slot.reserved -= quantity
        if hold.quantity == 0:
            del self._holds[hold.hold_id]
        hold.slot.assert_sound(self._limits.quantity_max)

    def ship(self, items: Sequence[ShipItem]) -> list[StockEvent]:
        check_items("ship", items, self._limits)
        return [self._ship(hold_id, quantity) for hold_id, quantity in items]

    def _ship(self, hold_id: int, quantity: int) -> StockEvent:
        hold = self._find_hold("ship", hold_id)
        if isinstance(hold, StockRejected):
            return hold
        slot = hold.slot
        if not hold.confirmed:
            return rejections.hold_not_confirmed(hold_id, slot.sku, slot.location)
        if not 1 <= quantity <= hold.quantity:
            return rejections.out_of_range(
                "ship",
                "quantity",
                quantity,
                1,
                hold.quantity,
                sku=slot.sku,
                location=slot.location,
                hold_id=hold_id,
            )
        if quantity > slot.on_hand:
            return rejections.insufficient(
                "ship",
                f"shipping {quantity} needs that much on hand; on_hand is {slot.on_hand}",
                sku=slot.sku,
                location=slot.location,
                hold_id=hold_id,
            )
        slot.on_hand -= quantity
        self._take_from_hold(hold, quantity)
        return StockShipped(
            sku=slot.sku,
            location=slot.location,
            hold_id=hold_id,
            quantity=quantity,
            remaining=hold.quantity,
            on_hand=slot.on_hand,
            reserved=slot.reserved,
        )

    def expire(self, now: int) -> list[StockEvent]:
        check_clock("expire", now, self._limits)
        due = sorted(
            (
                hold
                for hold in self._holds.values()
                if not hold.confirmed and hold.expires_at <= now
            ),
            key=lambda hold: (hold.expires_at, hold.hold_id),
        )
        events: list[StockEvent] = []
        for hold in due[: self._limits.batch_size_max]:
            quantity = hold.quantity
            self._take_from_hold(hold, quantity)
            events.append(
                HoldExpired(
                    sku=hold.slot.sku,
                    location=hold.slot.location,
                    hold_id=hold.hold_id,
                    quantity=quantity,
                    reserved=hold.slot.reserved,
                )
            )
        return events

    # replay, state, snapshot, invariants

    def apply(self, events: Iterable[StockEvent]) -> None:
        """Rebuild state from a history; a payload that does not follow raises.

        Limits are not checked: a history records what was admitted then.
        """
        for event in events:
            if not isinstance(event, StockRejected):
                self._replay(event)

    def _replay(self, event: StockPayload) -> None:
        if isinstance(event, SlotConfigured):
            self._apply_configured(event)
            return
        slot = self._slots.get((event.sku, event.location))
        _expect(slot is not None, event, "its slot was never configured")
        assert slot is not None
        if isinstance(event, StockReceived | StockRestocked):
            _expect(slot.on_hand + event.quantity == event.on_hand, event, "on_hand")
            slot.on_hand = event.on_hand
        elif isinstance(event, StockAdjusted):
            _expect(slot.on_hand + event.delta == event.on_hand, event, "on_hand")
            slot.on_hand = event.on_hand
        elif isinstance(event, StockReserved):
            _expect(event.hold_id == self._next_hold_id, event, "hold id out of sequence")
            self._open_hold(event.order_id, slot, event.quantity, event.expires_at)
            _expect(slot.reserved == event.reserved, event, "reserved")
        else:
            self._replay_hold(event, slot)
        slot.assert_sound(self._limits.quantity_max)

    def _replay_hold(self, event: StockPayload, slot: _Slot) -> None:
        hold = self._holds.get(getattr(event, "hold_id", 0))
        _expect(hold is not None and hold.slot is slot, event, "no such open hold in the slot")
        assert hold is not None
        if isinstance(event, HoldConfirmed):
            _expect(not hold.confirmed and hold.quantity == event.quantity, event, "hold")
            hold.confirmed = True
        elif isinstance(event, HoldReleased | HoldExpired):
            self._take_from_hold(hold, event.quantity)
            remaining = event.remaining if isinstance(event, HoldReleased) else 0
            _expect((hold.quantity, slot.reserved) == (remaining, event.reserved), event, "hold")
        elif isinstance(event, StockShipped):
            _expect(hold.confirmed, event, "hold not confirmed")
            slot.on_hand -= event.quantity
            self._take_from_hold(hold, event.quantity)
            after = (hold.quantity, slot.on_hand, slot.reserved)
            _expect(after == (event.remaining, event.on_hand, event.reserved), event, "hold")

    def _apply_configured(self, event: SlotConfigured) -> None:
        slot = self._slots.get((event.sku, event.location))
        if slot is None:
            slot = _Slot(
                event.sku, event.location, event.priority, event.safety_stock, event.backorder_limit
            )
            self._slots[(event.sku, event.location)] = slot
            self._sku_indices.setdefault(event.sku, len(self._sku_indices))
            self._by_sku.setdefault(event.sku, []).append(slot)
        else:
            slot.priority = event.priority
            slot.safety_stock = event.safety_stock
            slot.backorder_limit = event.backorder_limit
        self._by_sku[event.sku].sort(key=lambda s: (s.priority, s.location))
        slot.assert_sound(self._limits.quantity_max)

    def slot(self, sku: str, location: str) -> SlotState | None:
        """One slot's state, or None when it is not configured."""
        slot = self._slots.get((sku, location))
        return None if slot is None else slot.state()

    def state(self) -> StockState:
        slots = sorted(self._slots.values(), key=lambda slot: (slot.sku, slot.location))
        holds = sorted(self._holds.values(), key=lambda hold: hold.hold_id)
        return StockState(
            slots=tuple(slot.state() for slot in slots),
            holds=tuple(
                HoldState(
                    h.hold_id, h.slot.sku, h.slot.location, h.quantity, h.expires_at, h.confirmed
                )
                for h in holds
            ),
            next_hold_id=self._next_hold_id,
        )

    def snapshot(self) -> bytes:
        return encode_snapshot(self._limits, self.state())

    @classmethod
    def from_snapshot(cls, data: bytes) -> ReferenceStock:
        snapshot = decode_snapshot(data)
        stock = cls(snapshot.limits)
        for s in snapshot.state.slots:
            stock._apply_configured(
                SlotConfigured(
                    sku=s.sku,
                    location=s.location,
                    priority=s.priority,
                    safety_stock=s.safety_stock,
                    backorder_limit=s.backorder_limit,
                )
            )
            stock._slots[(s.sku, s.location)].on_hand = s.on_hand
        for h in snapshot.state.holds:
            slot = stock._slots[(h.sku, h.location)]
            stock._holds[h.hold_id] = _Hold(h.hold_id, slot, h.quantity, h.expires_at, h.confirmed)
            slot.reserved += h.quantity
        stock._next_hold_id = snapshot.state.next_hold_id
        _check(stock.state() == snapshot.state, "snapshot: reserved is not its holds' sum")
        stock.check_invariants()
        return stock

    def check_invariants(self) -> None:
        """Scan everything; raise `InvariantError` at the first broken rule."""
        held: dict[tuple[str, str], int] = {}
        for hold in self._holds.values():
            key = (hold.slot.sku, hold.slot.location)
            held[key] = held.get(key, 0) + hold.quantity
            _check(hold.quantity > 0, f"hold {hold.hold_id} holds {hold.quantity}")
            _check(1 <= hold.hold_id < self._next_hold_id, f"hold {hold.hold_id} not issued")
        for key, slot in self._slots.items():
            slot.assert_sound(self._limits.quantity_max)
            _check(slot.reserved == held.get(key, 0), f"reserved is not its holds' sum: {slot}")
        _check(len(self._holds) <= self._limits.open_holds_max, "open_holds_max exceeded")


def _check(condition: bool, detail: str) -> None:
    if not condition:
        raise InvariantError(detail)


def _expect(condition: bool, event: StockPayload, what: str) -> None:
    if not condition:
        raise InvariantError(f"replay: {event!r} does not follow from the state ({what})")
