"""The flow workload written the way the eventsourcing library teaches: the peer
the engine's throughput is compared with.

Aggregates with `@event` methods, one per stock slot (SKU x location: on
hand, reserved, holds), one per order, one per customer credit account, and
one per SKU listing its slots by priority, since an event store cannot be
queried by attribute. One application method per command. Placing an order
follows the engine's saga and rules: load the line's slots in priority order
and hold what each can spare until the line is covered (all lines or the
order is rejected), load the customer's account, decide credit (approve
within the limit, hold in the tolerance band or when prepaid, reject above),
confirm the holds and the order, and save everything the command changed in
one `save` call: one transaction, like the engine's one commit per batch.

Persistence is eventsourcing's own SQLite recorder (WAL, synchronous FULL by
SQLite's default, as durable as the engine's store). The application caches
aggregates (`AGGREGATE_CACHE_MAXSIZE`) without fast-forwarding, the setting
the library offers for an application that is its store's only writer, as
the engine is: without it every command would replay each slot's whole
history, which would make the peer slower the longer it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from engine.commands import AnyCommand, ConfigureSlot, PlaceOrder, ReceiveStock, SetCreditLimit

_NAMESPACE: Final = uuid5(NAMESPACE_URL, "https://stockledger.example/bench/peer")
HOLD_TTL_S: Final = 900
TOLERANCE_PERCENT: Final = 10


class Sku(Aggregate):
    """A SKU's slots, in allocation order: (priority, location)."""

    @staticmethod
    def create_id(sku: str) -> UUID:
        return uuid5(_NAMESPACE, f"sku/{sku}")

    @event("Created")
    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.slots: list[tuple[int, str]] = []

    @event("SlotAdded")
    def add_slot(self, location: str, priority: int) -> None:
        self.slots.append((priority, location))
        self.slots.sort()


class StockSlot(Aggregate):
    """One SKU at one location. Holds: hold id -> [order id, quantity, expires at, confirmed]."""

    @staticmethod
    def create_id(sku: str, location: str) -> UUID:
        return uuid5(_NAMESPACE, f"slot/{sku}@{location}")

    @event("Configured")
    def __init__(
        self, sku: str, location: str, priority: int, safety_stock: int, backorder_limit: int
    ) -> None:
        self.sku = sku
        self.location = location
        self.priority = priority
        self.safety_stock = safety_stock
        self.backorder_limit = backorder_limit
        self.on_hand = 0
        self.reserved = 0
        self.next_hold_id = 1
        self.holds: dict[int, list[Any]] = {}

    @property
    def headroom(self) -> int:
        return max(0, self.on_hand - self.safety_stock + self.backorder_limit - self.reserved)

    @event("Received")
    def receive(self, quantity: int, reference: str) -> None:
        self.on_hand += quantity

    @event("Reserved")
    def reserve(self, hold_id: int, order_id: str, quantity: int, expires_at: int) -> None:
        self.holds[hold_id] = [order_id, quantity, expires_at, False]
        self.next_hold_id = hold_id + 1
        self.reserved += quantity

    @event("HoldConfirmed")
    def confirm_hold(self, hold_id: int) -> None:
        self.holds[hold_id][3] = True


class Order(Aggregate):
    @staticmethod
    def create_id(order_id: str) -> UUID:
        return uuid5(_NAMESPACE, f"order/{order_id}")

    @event("Placed")
    def __init__(
        self,
        order_id: str,
        customer_id: str,
        channel: str,
        campaign: str | None,
        payment_terms: str,
        ship_to: dict[str, str],
        lines: list[dict[str, Any]],
    ) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.channel = channel
        self.campaign = campaign
        self.payment_terms = payment_terms
        self.ship_to = ship_to
        self.lines = lines
        self.total_cents = sum(line["quantity"] * line["unit_price_cents"] for line in lines)
        self.holds: list[dict[str, Any]] = []
        self.status = "placed"

    @event("StockReserved")
    def reserve(self, holds: list[dict[str, Any]], expires_at: int) -> None:
        self.holds = holds
        self.expires_at = expires_at
        self.status = "reserved"

    @event("CreditHeld")
    def hold(self, reason: str) -> None:
        self.status = "credit_held"

    @event("Confirmed")
    def confirm(self, total_cents: int) -> None:
        self.status = "confirmed"

    @event("Rejected")
    def reject(self, reason: str, detail: str) -> None:
        self.status = "rejected"


class CreditAccount(Aggregate):
    @staticmethod
    def create_id(customer_id: str) -> UUID:
        return uuid5(_NAMESPACE, f"customer/{customer_id}")

    @event("Opened")
    def __init__(self, customer_id: str, limit_cents: int, payment_terms: str) -> None:
        self.customer_id = customer_id
        self.limit_cents = limit_cents
        self.payment_terms = payment_terms
        self.approved: dict[str, int] = {}
        self.uninvoiced_cents = 0
        self.unpaid_cents = 0
        self.overdue_invoices = 0

    @property
    def exposure_cents(self) -> int:
        return self.uninvoiced_cents + self.unpaid_cents

    @event("LimitSet")
    def set_limit(self, limit_cents: int, payment_terms: str) -> None:
        self.limit_cents = limit_cents
        self.payment_terms = payment_terms

    def decide(self, amount_cents: int) -> str:
        """`approve`, `review` (tolerance band or overdue) or `reject`: the engine's rule."""
        after = self.exposure_cents + amount_cents
        if after > self.limit_cents * (100 + TOLERANCE_PERCENT) // 100:
            return "reject"
        if self.overdue_invoices or after > self.limit_cents:
            return "review"
        return "approve"

    @event("Approved")
    def approve(self, order_id: str, amount_cents: int, exposure_cents: int) -> None:
        self.approved[order_id] = amount_cents
        self.uninvoiced_cents += amount_cents

    @event("Held")
    def hold(self, order_id: str, amount_cents: int, exposure_cents: int) -> None:
        pass

    @event("Rejected")
    def reject(self, order_id: str, amount_cents: int, exposure_cents: int) -> None:
        pass


class PeerStorefront(Application[UUID]):
    env: ClassVar[dict[str, str]] = {
        "AGGREGATE_CACHE_MAXSIZE": "0",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }

    def __init__(self, dbname: str) -> None:
        super().__init__({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": dbname})
        self.now = 0

    def handle(self, command: AnyCommand) -> str:
        """Apply one command; for an order, its status after it."""
        if isinstance(command, PlaceOrder):
            return self.place_order(command)
        if isinstance(command, ConfigureSlot):
            self.configure_slot(command)
        elif isinstance(command, ReceiveStock):
            self.receive_stock(command)
        elif isinstance(command, SetCreditLimit):
            self.set_credit_limit(command)
        else:
            msg = f"the peer runs the flow workload only, not {type(command).__name__}"
            raise TypeError(msg)
        return "done"

    def configure_slot(self, command: ConfigureSlot) -> None:
        try:
            sku: Sku = self.repository.get(Sku.create_id(command.sku))
        except AggregateNotFoundError:
            sku = Sku(command.sku)
        slot = StockSlot(
            command.sku,
            command.location,
            command.priority,
            command.safety_stock,
            command.backorder_limit,
        )
        sku.add_slot(command.location, command.priority)
        self.save(sku, slot)

    def receive_stock(self, command: ReceiveStock) -> None:
        slot: StockSlot = self.repository.get(StockSlot.create_id(command.sku, command.location))
        slot.receive(command.quantity, command.reference)
        self.save(slot)

    def set_credit_limit(self, command: SetCreditLimit) -> None:
        try:
            account: CreditAccount = self.repository.get(
                CreditAccount.create_id(command.customer_id)
            )
        except AggregateNotFoundError:
            account = CreditAccount(command.customer_id, command.limit_cents, command.payment_terms)
        else:
            account.set_limit(command.limit_cents, command.payment_terms)
        self.save(account)

    def place_order(self, command: PlaceOrder) -> str:
        order = Order(
            command.order_id,
            command.customer_id,
            command.channel,
            command.campaign,
            command.payment_terms,
            msgspec.to_builtins(command.ship_to),
            msgspec.to_builtins(command.lines),
        )
        prepaid = command.payment_terms == "prepaid"
        try:
            account: CreditAccount | None = self.repository.get(
                CreditAccount.create_id(command.customer_id)
            )
        except AggregateNotFoundError:
            account = None
        if account is None and not prepaid:
            order.reject("no_credit_account", f"customer {command.customer_id} has no account")
            return self._save_order(order)
        expires_at = self.now + HOLD_TTL_S
        slots: dict[UUID, StockSlot] = {}
        holds: list[dict[str, Any]] = []
        for line in command.lines:
            shortfall = self._allocate(
                order.order_id, line.sku, line.quantity, expires_at, slots, holds
            )
            if shortfall is not None:
                # Unsaved, the slots' holds vanish with this command: all lines or nothing.
                order.reject(*shortfall)
                return self._save_order(order)
        order.reserve(holds, expires_at)
        if prepaid or account is None:
            order.hold("awaiting_payment")
            return self._save_order(order, *slots.values())
        exposure = account.exposure_cents
        decision = account.decide(order.total_cents)
        if decision == "approve":
            account.approve(order.order_id, order.total_cents, exposure + order.total_cents)
            for hold in holds:
                slots[hold["slot_id"]].confirm_hold(hold["hold_id"])
            order.confirm(order.total_cents)
            return self._save_order(order, account, *slots.values())
        if decision == "review":
            account.hold(order.order_id, order.total_cents, exposure)
            order.hold("tolerance_band")
            return self._save_order(order, account, *slots.values())
        account.reject(order.order_id, order.total_cents, exposure)
        # The holds are released with the rejection: the slots are left unsaved.
        order.reject("credit_rejected", f"exposure {exposure} over limit {account.limit_cents}")
        return self._save_order(order, account)

    def _allocate(
        self,
        order_id: str,
        sku_name: str,
        quantity: int,
        expires_at: int,
        slots: dict[UUID, StockSlot],
        holds: list[dict[str, Any]],
    ) -> tuple[str, str] | None:
        """Hold `quantity` of a SKU across its slots by priority; why not, if it cannot."""
        try:
            sku: Sku = self.repository.get(Sku.create_id(sku_name))
        except AggregateNotFoundError:
            return "unknown_sku", f"no SKU {sku_name}"
        remaining = quantity
        for _priority, location in sku.slots:
            slot_id = StockSlot.create_id(sku_name, location)
            slot = slots.get(slot_id)
            if slot is None:
                slot = slots[slot_id] = self.repository.get(slot_id)
            take = min(slot.headroom, remaining)
            if take:
                hold_id = slot.next_hold_id
                slot.reserve(hold_id, order_id, take, expires_at)
                holds.append(
                    {
                        "slot_id": slot_id,
                        "sku": sku_name,
                        "location": location,
                        "hold_id": hold_id,
                        "quantity": take,
                    }
                )
                remaining -= take
            if not remaining:
                return None
        return "insufficient_stock", f"{sku_name}: {quantity - remaining} of {quantity} available"

    def _save_order(self, order: Order, *others: Aggregate) -> str:
        try:
            self.save(order, *others)
        except IntegrityError:
            # The order id was placed before: its events are stored already.
            return "duplicate"
        return str(order.status)


def run_peer(dbname: str, commands: Sequence[AnyCommand]) -> list[str]:
    """Apply `commands` through a fresh peer application on `dbname`; their outcomes."""
    app = PeerStorefront(dbname)
    try:
        return [app.handle(command) for command in commands]
    finally:
        app.close()
