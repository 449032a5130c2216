"""A storefront, simulated: seeded, deterministic and closed-loop.

`Storefront` writes batches of commands and reads the engine's answers to
them, as a real storefront would: it ships only orders an answer confirmed,
from the locations their holds are at; it captures payments and asks for
credit reviews only of orders an answer held; it pays the invoices shipments
issued; it reorders stock when the slots it watches run low. Everything it
decides comes from its seeded random generator and the answers, so the same
seed and the same answers always give the same commands.

A run has two phases:

1. Set-up: the catalogue (`ConfigureSlot` for every SKU at one or more
   locations, hot SKUs at all of them, with priorities), its first stock
   (`ReceiveStock`) and every customer's credit limit and payment terms.
2. Trading, one batch per tick of the logical clock: the follow-ups due by
   now (payments, reviews, cancellations, shipments, deliveries, returns,
   customer payments, stock receipts), new orders, and an `AdvanceClock`.
   A day has `ticks_per_day` ticks, then the clock jumps to the next
   morning, so orders left unpaid or unreviewed expire overnight. The day's
   last tick takes no new orders: it leaves the day's last payments and
   reviews the time to arrive before the night. Once every order is placed
   the clock jumps from one follow-up to the next until none is left (late
   payers' invoices fall overdue on the way), then to the next morning, by
   when every hold still unconfirmed has expired.

`flow_workload` is the other workload here: the throughput bar's orders,
every one of which goes all the way to confirmed.
"""

from __future__ import annotations

import itertools
import operator
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final

from engine.commands import (
    AdjustStock,
    AdvanceClock,
    AnyCommand,
    CancelOrder,
    CapturePayment,
    CommandLine,
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
)
from engine.engine import Answer, Engine, EngineSettings
from engine.events import (
    CommandRejected,
    CreditCommandRejected,
    Disposition,
    Event,
    HoldReason,
    InvoiceIssued,
    InvoiceOverdue,
    LinesReturned,
    LinesShipped,
    OrderCancelled,
    OrderCommandRejected,
    OrderConfirmed,
    OrderCreditHeld,
    OrderDelivered,
    OrderExpired,
    OrderRejected,
    OrderStockReserved,
    PaymentCaptured,
    PaymentRecorded,
    ShipTo,
)
from engine.schedule import Schedule
from engine.stock.events import (
    HoldExpired,
    HoldReleased,
    StockAdjusted,
    StockReceived,
    StockRejected,
    StockReserved,
    StockRestocked,
    StockShipped,
)

DAY_S: Final = 86_400
LOCATION_NAMES: Final = ("dc-north", "dc-south", "dc-east", "dc-west", "store-city")
CHANNELS: Final = ("web", "app", "marketplace", "telesales")
CHANNEL_WEIGHTS: Final = (45, 30, 20, 5)
CAMPAIGNS: Final = ("spring-sale", "newsletter", "retargeting", "influencer")
LINE_COUNTS: Final = (1, 2, 3, 4, 5)
LINE_COUNT_WEIGHTS: Final = (30, 30, 20, 12, 8)
_LINE_COUNT_CUMULATIVE: Final = tuple(itertools.accumulate(LINE_COUNT_WEIGHTS))
_CHANNEL_CUMULATIVE: Final = tuple(itertools.accumulate(CHANNEL_WEIGHTS))
CITIES: Final = (
    ("Berlin", "DE"),
    ("Lyon", "FR"),
    ("Utrecht", "NL"),
    ("Graz", "AT"),
    ("Turin", "IT"),
)
# The engine refuses batches above its limit.
ENGINE_BATCH_MAX: Final = EngineSettings.batch_size_max


@dataclass(frozen=True)
class SimulatorSettings:
    """A storefront's size, pace and habits. Percentages are whole numbers, 0..100.

    `batch_size` is the new orders in a trading batch; the follow-ups due by
    then ride along, up to `batch_commands_max` commands in all (follow-ups
    over that wait for a batch of their own, and the clock waits with them).
    """

    orders: int = 10_000
    customers: int = 500
    skus: int = 300
    hot_skus: int = 5
    locations: int = 3
    seed: int = 1
    batch_size: int = 100
    batch_commands_max: int = 5_000
    tick_s: int = 300
    ticks_per_day: int = 5
    hot_line_percent: int = 30
    prepaid_percent: int = 30
    net_14_percent: int = 35
    late_payer_percent: int = 10
    capture_percent: int = 85
    review_percent: int = 75
    approve_percent: int = 70
    cancel_percent: int = 3
    return_percent: int = 6
    write_off_percent: int = 30
    adjust_percent: int = 10
    stock_days: int = 3
    lead_time_days: int = 1

    def __post_init__(self) -> None:
        positive = ("orders", "customers", "skus", "locations", "batch_size", "tick_s")
        for name in (*positive, "stock_days", "lead_time_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"SimulatorSettings.{name} is {getattr(self, name)}; give >= 1")
        for name in (f.name for f in fields(self) if f.name.endswith("_percent")):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"SimulatorSettings.{name} is {getattr(self, name)}; give 0..100")
        if not 0 <= self.hot_skus < self.skus:
            raise ValueError(
                f"hot_skus {self.hot_skus} must be below skus {self.skus}: "
                "some SKUs have to be ordinary"
            )
        if not self.batch_size < self.batch_commands_max <= ENGINE_BATCH_MAX:
            raise ValueError(
                f"batch_commands_max {self.batch_commands_max} must exceed batch_size "
                f"{self.batch_size} and stay within the engine's {ENGINE_BATCH_MAX}"
            )
        if self.ticks_per_day < 2 or self.tick_s * self.ticks_per_day > DAY_S:
            raise ValueError(
                f"{self.ticks_per_day} ticks of {self.tick_s} s a day: a day needs at "
                "least 2 ticks (its last takes no orders) and they must fit in 86,400 s"
            )
        if self.prepaid_percent + self.net_14_percent > 100:
            raise ValueError("prepaid_percent + net_14_percent exceed 100; the rest are net-30")


@dataclass(frozen=True)
class SimulationStats:
    """What a run sent and what came of it.

    `commands`: commands sent, by type. `outcomes`: order outcomes
    (`confirmed`, `rejected:<reason>`, `held:<reason>`, `expired`, ...) and
    other observed facts (`shipments`, `invoices_overdue`, ...).
    `rejections`: commands the engine refused, by `<command>:<reason>`.
    """

    batches: int
    events: int
    commands: dict[str, int]
    outcomes: dict[str, int]
    rejections: dict[str, int]


@dataclass
class _Sku:
    name: str
    price_cents: int
    locations: list[str]
    daily_demand: int


@dataclass
class _Slot:
    """What the storefront knows of a slot, from the stock events it was answered."""

    safety_stock: int
    reorder_point: int
    reorder_quantity: int
    on_hand: int = 0
    reserved: int = 0
    reordered: bool = False


@dataclass(frozen=True)
class _Customer:
    customer_id: str
    payment_terms: str
    net_days: int
    late_payer: bool
    ship_to: ShipTo


@dataclass
class _Order:
    total_cents: int
    # location -> sku -> quantity held there, from OrderStockReserved
    held: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class _Shipment:
    location: str
    lines: tuple[SkuQuantity, ...]


Progress = Callable[[int, int], None]


class Storefront:
    """Call `next_batch`, submit it, hand the answers to `observe`; repeat until None."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)
        self._serial = 0
        self._now = 0
        self._ticks = 0
        self._placed = 0
        self._closed = False
        self._batches = 0
        self._events = 0
        self._sent: Sequence[AnyCommand] | None = None
        self._due: Schedule[AnyCommand] = Schedule()
        self._orders: dict[str, _Order] = {}
        self._shipments: dict[str, _Shipment] = {}
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._commands: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()
        self._rejections: Counter[str] = Counter()
        self._locations = _location_names(settings.locations)
        self._skus = self._catalogue()
        self._hot = self._skus[: settings.hot_skus]
        self._ordinary = self._skus[settings.hot_skus :]
        self._customers = self._clientele()
        self._customer_by_id = {c.customer_id: c for c in self._customers}
        self._setup = self._setup_batches()

    # ------------------------------------------------------------ the loop

    def next_batch(self) -> list[AnyCommand] | None:
        """The next batch to submit, or None when the run is over."""
        if self._sent is not None:
            msg = "observe the answers to the last batch before asking for the next one"
            raise RuntimeError(msg)
        batch = self._setup.pop(0) if self._setup else self._trading_batch()
        if not batch:
            return None
        self._sent = batch
        self._batches += 1
        self._commands.update(type(command).__name__ for command in batch)
        return batch

    def observe(self, answers: Sequence[Answer]) -> None:
        """Read the answers to the last batch: what was held, confirmed, shipped, refused."""
        sent = self._sent
        if sent is None or len(answers) != len(sent):
            msg = "observe takes exactly the answers to the last batch, one per command, in order"
            raise ValueError(msg)
        self._sent = None
        handlers = _HANDLERS
        for answer in answers:
            self._events += len(answer.events)
            for envelope in answer.events:
                payload = envelope.data
                handler = handlers.get(type(payload))
                if handler is not None:
                    handler(self, payload)

    def stats(self) -> SimulationStats:
        return SimulationStats(
            batches=self._batches,
            events=self._events,
            commands=dict(sorted(self._commands.items())),
            outcomes=dict(sorted(self._outcomes.items())),
            rejections=dict(sorted(self._rejections.items())),
        )

    @property
    def orders_placed(self) -> int:
        return self._placed

    def _trading_batch(self) -> list[AnyCommand]:
        settings = self.settings
        due = self._due
        batch = due.take(self._now, settings.batch_commands_max)
        if due.any_due(self._now):
            return batch
        if self._rng.randrange(100) < settings.adjust_percent:
            batch += self._shrinkage()
        if (self._ticks + 1) % settings.ticks_per_day:
            room = settings.batch_commands_max - len(batch) - 1
            count = min(settings.batch_size, settings.orders - self._placed, room)
            batch += [self._place() for _ in range(count)]
        if batch or due or self._placed < settings.orders:
            batch.append(self._advance())
        elif not self._closed:
            # The run ends the next morning, when every hold left unconfirmed has expired.
            self._closed = True
            self._now = (self._now // DAY_S + 1) * DAY_S
            batch.append(AdvanceClock(command_id=self._id("clock"), now=self._now))
        return batch

    def _id(self, kind: str) -> str:
        self._serial += 1
        return f"{kind}-{self._serial}"

    def _later(self, delay_s: int, command: AnyCommand) -> None:
        self._due.add(self._now + delay_s, command)

    def _advance(self) -> AdvanceClock:
        self._ticks += 1
        if self._ticks % self.settings.ticks_per_day:
            now = self._now + self.settings.tick_s
        else:
            now = (self._now // DAY_S + 1) * DAY_S
        if self._placed == self.settings.orders and self._due:
            # Nothing left to place: skip the idle time up to the next follow-up.
            now = max(now, self._due.first_at())
        self._now = now
        return AdvanceClock(command_id=self._id("clock"), now=now)

    # ------------------------------------------------------------ set-up

    def _catalogue(self) -> list[_Sku]:
        rng = self._rng
        settings = self.settings
        orders_per_day = settings.batch_size * settings.ticks_per_day
        mean_lines = sum(map(operator.mul, LINE_COUNTS, LINE_COUNT_WEIGHTS)) / sum(
            LINE_COUNT_WEIGHTS
        )
        # Two units a line on average (quantities 1..3).
        units_per_day = orders_per_day * mean_lines * 2
        hot_units = units_per_day * settings.hot_line_percent / 100
        skus = []
        for i in range(settings.skus):
            hot = i < settings.hot_skus
            if hot:
                demand = hot_units / settings.hot_skus
                locations = list(self._locations)
            else:
                demand = (units_per_day - hot_units) / (settings.skus - settings.hot_skus)
                locations = rng.sample(self._locations, min(len(self._locations), 1 + i % 2))
            rng.shuffle(locations)  # the list's order is the SKU's allocation priority
            price = rng.choice((199, 499, 999, 1_499, 2_499, 4_999, 9_999))
            skus.append(_Sku(f"SKU-{i:05d}", price, locations, max(1, round(demand))))
        return skus

    def _clientele(self) -> list[_Customer]:
        rng = self._rng
        settings = self.settings
        customers = []
        for i in range(settings.customers):
            draw = rng.randrange(100)
            if draw < settings.prepaid_percent:
                terms, net_days = "prepaid", 0
            elif draw < settings.prepaid_percent + settings.net_14_percent:
                terms, net_days = "net-14", 14
            else:
                terms, net_days = "net-30", 30
            city, country = rng.choice(CITIES)
            ship_to = ShipTo(
                name=f"Customer {i}",
                street=f"{rng.randrange(1, 200)} Market Street",
                city=city,
                postal_code=f"{rng.randrange(10_000, 99_999)}",
                country=country,
            )
            late = rng.randrange(100) < settings.late_payer_percent
            customers.append(_Customer(f"C{i:05d}", terms, net_days, late, ship_to))
        return customers

    def _setup_batches(self) -> list[list[AnyCommand]]:
        rng = self._rng
        stock_days = self.settings.stock_days
        commands: list[AnyCommand] = []
        for sku in self._skus:
            share = -(-sku.daily_demand // len(sku.locations))
            for priority, location in enumerate(sku.locations):
                safety = rng.choice((0, 0, 0, 2))
                quantity = share * stock_days + safety
                self._slots[sku.name, location] = _Slot(
                    safety_stock=safety,
                    reorder_point=share,
                    reorder_quantity=quantity,
                )
                commands.append(
                    ConfigureSlot(
                        command_id=self._id("configure"),
                        sku=sku.name,
                        location=location,
                        priority=priority,
                        safety_stock=safety,
                    )
                )
                commands.append(self._receive(sku.name, location, quantity))
        commands += [self._credit_limit(customer) for customer in self._customers]
        size = self.settings.batch_commands_max
        return [commands[i : i + size] for i in range(0, len(commands), size)]

    def _credit_limit(self, customer: _Customer) -> SetCreditLimit:
        if customer.payment_terms == "prepaid":
            limit = 0
        else:
            # Small limits meet the tolerance band and the rejections; large ones never do.
            limit = self._rng.choice((30_000, 100_000, 250_000, 1_000_000, 5_000_000))
        return SetCreditLimit(
            command_id=self._id("credit-limit"),
            customer_id=customer.customer_id,
            limit_cents=limit,
            payment_terms=customer.payment_terms,
        )

    def _receive(self, sku: str, location: str, quantity: int) -> ReceiveStock:
        return ReceiveStock(
            command_id=self._id("receive"),
            sku=sku,
            location=location,
            quantity=quantity,
            reference=f"po-{self._serial}",
        )

    # ------------------------------------------------------------ orders

    def _place(self) -> PlaceOrder:
        # The hottest path: `int(random() * n)` draws where `randrange(n)` would
        # cost three times as much, so the storefront stays far from the
        # engine's own cost per order.
        rng = self._rng
        random = rng.random
        hot, ordinary = self._hot, self._ordinary
        hot_share = self.settings.hot_line_percent / 100 if hot else 0.0
        self._placed += 1
        customer = self._customers[int(random() * len(self._customers))]
        quantities: dict[str, int] = {}
        prices: dict[str, int] = {}
        (count,) = rng.choices(LINE_COUNTS, cum_weights=_LINE_COUNT_CUMULATIVE)
        for _ in range(count):
            if random() < hot_share:
                sku = hot[int(random() * len(hot))]
            else:
                sku = ordinary[int(random() * len(ordinary))]
            # A SKU drawn twice is one line with the quantities added, as a basket does.
            quantities[sku.name] = quantities.get(sku.name, 0) + 1 + int(random() * 3)
            prices[sku.name] = sku.price_cents
        lines = tuple(CommandLine(sku, q, prices[sku]) for sku, q in quantities.items())
        order_id = f"O{self._placed:07d}"
        self._orders[order_id] = _Order(sum(q * prices[s] for s, q in quantities.items()))
        (channel,) = rng.choices(CHANNELS, cum_weights=_CHANNEL_CUMULATIVE)
        campaign = CAMPAIGNS[int(random() * len(CAMPAIGNS))] if random() < 0.25 else None
        return PlaceOrder(
            command_id=self._id("place"),
            order_id=order_id,
            customer_id=customer.customer_id,
            channel=channel,
            campaign=campaign,
            payment_terms=customer.payment_terms,
            ship_to=customer.ship_to,
            lines=lines,
        )

    def _on_reserved(self, event: OrderStockReserved) -> None:
        order = self._orders.get(event.order_id)
        if order is None:
            return
        for hold in event.holds:
            at = order.held.setdefault(hold.location, {})
            at[hold.sku] = at.get(hold.sku, 0) + hold.quantity

    def _on_held(self, event: OrderCreditHeld) -> None:
        self._outcomes[f"held:{event.reason.value}"] += 1
        order = self._orders.get(event.order_id)
        if order is None:
            return
        rng = self._rng
        # Captures and reviews go out with the next batch, a tick later, well
        # inside the holds' time to live; orders left alone expire.
        if event.reason is HoldReason.AWAITING_PAYMENT:
            if rng.randrange(100) < self.settings.capture_percent:
                self._later(
                    0,
                    CapturePayment(
                        command_id=self._id("capture"),
                        order_id=event.order_id,
                        payment_id=f"card-{self._serial}",
                        amount_cents=order.total_cents,
                    ),
                )
        elif rng.randrange(100) < self.settings.review_percent:
            approve = rng.randrange(100) < self.settings.approve_percent
            self._later(
                0,
                DecideCreditReview(
                    command_id=self._id("review"),
                    order_id=event.order_id,
                    approve=approve,
                    decided_by=f"analyst-{rng.randrange(1, 6)}",
                    why="payment history checked" if approve else "exposure too high",
                ),
            )

    def _on_confirmed(self, event: OrderConfirmed) -> None:
        self._outcomes["confirmed"] += 1
        order = self._orders.get(event.order_id)
        if order is None:
            return
        rng = self._rng
        if rng.randrange(100) < self.settings.cancel_percent:
            self._later(
                0,
                CancelOrder(
                    command_id=self._id("cancel"),
                    order_id=event.order_id,
                    reason="customer changed their mind",
                ),
            )
            return
        # Each location ships what the order holds there, when its pickers get to it.
        for location, held in order.held.items():
            shipment_id = f"S{self._serial + 1}"
            lines = tuple(SkuQuantity(sku, quantity) for sku, quantity in held.items())
            self._shipments[shipment_id] = _Shipment(location, lines)
            delay = rng.randrange(1, self.settings.ticks_per_day + 1) * self.settings.tick_s
            self._later(
                delay,
                ShipLines(
                    command_id=self._id("ship"),
                    order_id=event.order_id,
                    shipment_id=shipment_id,
                    location=location,
                    lines=lines,
                ),
            )

    def _on_ended(self, event: OrderRejected | OrderCancelled | OrderExpired) -> None:
        if type(event) is OrderRejected:
            self._outcomes[f"rejected:{event.reason.value}"] += 1
        else:
            self._outcomes[type(event).__name__.removeprefix("Order").lower()] += 1
        self._orders.pop(event.order_id, None)

    def _on_shipped(self, event: LinesShipped) -> None:
        self._outcomes["shipments"] += 1
        self._orders.pop(event.order_id, None)
        delay = self._rng.randrange(1, 4) * DAY_S
        self._later(
            delay,
            DeliverOrder(
                command_id=self._id("deliver"),
                order_id=event.order_id,
                shipment_id=event.shipment_id,
            ),
        )

    def _on_delivered(self, event: OrderDelivered) -> None:
        self._outcomes["deliveries"] += 1
        shipment = self._shipments.pop(event.shipment_id, None)
        rng = self._rng
        if shipment is None or rng.randrange(100) >= self.settings.return_percent:
            return
        line = shipment.lines[rng.randrange(len(shipment.lines))]
        write_off = rng.randrange(100) < self.settings.write_off_percent
        self._later(
            rng.randrange(1, 15) * DAY_S,
            ReturnLines(
                command_id=self._id("return"),
                order_id=event.order_id,
                return_id=f"R{self._serial}",
                lines=(
                    ReturnLine(
                        sku=line.sku,
                        quantity=rng.randint(1, line.quantity),
                        disposition=Disposition.WRITE_OFF if write_off else Disposition.RESTOCK,
                        location=shipment.location,
                    ),
                ),
            ),
        )

    # ------------------------------------------------------------ money

    def _on_invoiced(self, event: InvoiceIssued) -> None:
        self._outcomes["invoices"] += 1
        customer = self._customer_by_id[event.customer_id]
        rng = self._rng
        if customer.late_payer:
            days = customer.net_days + rng.randrange(2, 20)
        else:
            days = rng.randrange(1, customer.net_days)
        self._later(
            days * DAY_S,
            RecordPayment(
                command_id=self._id("payment"),
                customer_id=event.customer_id,
                payment_id=f"bank-{self._serial}",
                amount_cents=event.amount_cents,
            ),
        )

    def _count(self, event: Event) -> None:
        self._outcomes[_FACT_NAMES[type(event)]] += 1

    def _on_rejected_command(self, event: CommandRejected) -> None:
        self._rejections[f"{event.command}:{event.reason.value}"] += 1

    def _on_stock_rejected(self, event: StockRejected) -> None:
        self._rejections[f"{event.operation}:{event.reason.value}"] += 1

    # ------------------------------------------------------------ stock

    def _on_stock(
        self,
        event: StockReserved | HoldReleased | HoldExpired | StockShipped,
    ) -> None:
        slot = self._slots.get((event.sku, event.location))
        if slot is None:
            return
        slot.reserved = event.reserved
        if type(event) is StockShipped:
            slot.on_hand = event.on_hand
        self._check_low(event.sku, event.location, slot)

    def _on_counted(self, event: StockReceived | StockRestocked | StockAdjusted) -> None:
        slot = self._slots.get((event.sku, event.location))
        if slot is None:
            return
        slot.on_hand = event.on_hand
        if type(event) is StockReceived:
            slot.reordered = False
        self._check_low(event.sku, event.location, slot)

    def _check_low(self, sku: str, location: str, slot: _Slot) -> None:
        if slot.reordered or slot.on_hand - slot.safety_stock - slot.reserved >= slot.reorder_point:
            return
        slot.reordered = True
        command = self._receive(sku, location, slot.reorder_quantity)
        self._later(self.settings.lead_time_days * DAY_S, command)

    def _shrinkage(self) -> list[AnyCommand]:
        """A unit found damaged at a slot that has units to spare."""
        rng = self._rng
        sku = self._skus[rng.randrange(len(self._skus))]
        location = sku.locations[rng.randrange(len(sku.locations))]
        slot = self._slots[sku.name, location]
        if slot.on_hand - slot.safety_stock - slot.reserved < 1:
            return []
        return [
            AdjustStock(
                command_id=self._id("adjust"),
                sku=sku.name,
                location=location,
                delta=-1,
                reason="damaged in the warehouse",
                reference=f"count-{self._serial}",
            )
        ]


_FACT_NAMES: Final[dict[type, str]] = {
    PaymentCaptured: "payments_captured",
    PaymentRecorded: "payments_recorded",
    InvoiceOverdue: "invoices_overdue",
    LinesReturned: "returns",
}

_HANDLERS: Final[dict[type, Callable[[Storefront, Any], None]]] = {
    OrderStockReserved: Storefront._on_reserved,
    OrderCreditHeld: Storefront._on_held,
    OrderConfirmed: Storefront._on_confirmed,
    OrderRejected: Storefront._on_ended,
    OrderCancelled: Storefront._on_ended,
    OrderExpired: Storefront._on_ended,
    LinesShipped: Storefront._on_shipped,
    OrderDelivered: Storefront._on_delivered,
    InvoiceIssued: Storefront._on_invoiced,
    OrderCommandRejected: Storefront._on_rejected_command,
    CreditCommandRejected: Storefront._on_rejected_command,
    StockRejected: Storefront._on_stock_rejected,
    StockReserved: Storefront._on_stock,
    HoldReleased: Storefront._on_stock,
    HoldExpired: Storefront._on_stock,
    StockShipped: Storefront._on_stock,
    StockReceived: Storefront._on_counted,
    StockRestocked: Storefront._on_counted,
    StockAdjusted: Storefront._on_counted,
    **dict.fromkeys(_FACT_NAMES, Storefront._count),
}


def _location_names(count: int) -> tuple[str, ...]:
    extra = tuple(f"dc-{i}" for i in range(len(LOCATION_NAMES), count))
    return (LOCATION_NAMES + extra)[:count]


def run(
    engine: Engine, settings: SimulatorSettings, progress: Progress | None = None
) -> SimulationStats:
    """Drive `engine` with a storefront to the end; `progress(orders placed, orders)` per batch.

    Batches go through the engine's pipeline: the storefront reads a batch's
    answers as soon as they are decided, while the batch commits, and every
    batch is committed when this returns (a failed commit raises).
    """
    storefront = Storefront(settings)
    with engine.pipeline() as pipeline:
        while (batch := storefront.next_batch()) is not None:
            storefront.observe(pipeline.submit(batch))
            if progress is not None:
                progress(storefront.orders_placed, settings.orders)
    return storefront.stats()


# ---------------------------------------------------------------- the flow workload

FLOW_LINES: Final = 3
FLOW_SKUS: Final = 1_000
FLOW_CUSTOMERS: Final = 1_000
FLOW_LOCATIONS: Final = LOCATION_NAMES[:3]
FLOW_LIMIT_CENTS: Final = 10**13
FLOW_SHIP_TO: Final = ShipTo(
    name="Flow Customer", street="1 Market Street", city="Berlin", postal_code="10115", country="DE"
)


def flow_workload(orders: int, seed: int = 1) -> tuple[list[AnyCommand], list[AnyCommand]]:
    """(set-up, orders): `orders` PlaceOrders of exactly three lines that all confirm.

    Every SKU is stocked at three locations by priority, each holding the
    whole demand for it, and every customer has a limit no order run can
    reach on net-30 terms: each order reserves, passes credit and confirms.
    Order ids are `F0000001`..., command ids `flow-place-1`...
    """
    rng = random.Random(seed)
    skus = [f"FLOW-{i:04d}" for i in range(FLOW_SKUS)]
    prices = [rng.choice((199, 499, 999, 1_499, 2_499)) for _ in skus]
    customers = [f"FC{i:04d}" for i in range(FLOW_CUSTOMERS)]
    demand = [0] * FLOW_SKUS
    placed: list[AnyCommand] = []
    for n in range(1, orders + 1):
        picks = rng.sample(range(FLOW_SKUS), FLOW_LINES)
        lines = []
        for pick in picks:
            quantity = rng.randint(1, 3)
            demand[pick] += quantity
            lines.append(CommandLine(skus[pick], quantity, prices[pick]))
        placed.append(
            PlaceOrder(
                command_id=f"flow-place-{n}",
                order_id=f"F{n:07d}",
                customer_id=customers[rng.randrange(FLOW_CUSTOMERS)],
                channel=CHANNELS[n % len(CHANNELS)],
                payment_terms="net-30",
                ship_to=FLOW_SHIP_TO,
                lines=tuple(lines),
            )
        )
    setup: list[AnyCommand] = []
    for i, sku in enumerate(skus):
        for priority, location in enumerate(FLOW_LOCATIONS):
            slot = f"{sku}@{location}"
            setup.append(
                ConfigureSlot(
                    command_id=f"flow-configure-{slot}",
                    sku=sku,
                    location=location,
                    priority=priority,
                )
            )
            setup.append(
                ReceiveStock(
                    command_id=f"flow-receive-{slot}",
                    sku=sku,
                    location=location,
                    quantity=demand[i] + 1,
                    reference="po-flow",
                )
            )
    setup += [
        SetCreditLimit(
            command_id=f"flow-limit-{customer}",
            customer_id=customer,
            limit_cents=FLOW_LIMIT_CENTS,
            payment_terms="net-30",
        )
        for customer in customers
    ]
    return setup, placed
