"""What storefronts, ops and the clock ask of the engine: one tagged union of commands.

Every command carries a client `command_id`, unique per command the client
means: a retry sends the same id, and the engine answers it with the outcome
it already recorded and writes nothing new. The tag (field `type`) is the
class name, so a JSON line reads `{"type": "PlaceOrder", "command_id": ...}`.

Money is integer cents, quantities whole units, time the engine's logical
clock in seconds (only `AdvanceClock` moves it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Final

import msgspec

from engine.events import Disposition, ShipTo
from engine.ids import name_uuid, name_uuids

Quantity = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000)]
Cents = Annotated[int, msgspec.Meta(ge=0, le=10**15)]
# A stock count (on hand, safety stock, backorder limit) as a command may state
# it: within the stock core's int64 storage, so that a figure too large is the
# core's own `StockRejected` (over `StockLimits.quantity_max`), never a crash.
STOCK_COUNT_MAX: Final = 2**60
Count = Annotated[int, msgspec.Meta(ge=0, le=STOCK_COUNT_MAX)]
Delta = Annotated[int, msgspec.Meta(ge=-STOCK_COUNT_MAX, le=STOCK_COUNT_MAX)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
LINES_PER_ORDER_MAX: Final = 64
# Checked here, where commands come in, so the engine never meets other terms.
PaymentTerms = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(prepaid|net-[1-9][0-9]{0,2})$",
        description="`prepaid`, or `net-N` (N from 1 to 999 days).",
        examples=["prepaid", "net-30"],
    ),
]
Lines = Annotated[
    tuple["CommandLine", ...], msgspec.Meta(min_length=1, max_length=LINES_PER_ORDER_MAX)
]


class CommandLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Id
    quantity: Quantity
    unit_price_cents: Cents


class SkuQuantity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sku: Id
    quantity: Quantity


class ReturnLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`location` is where restocked units go back to (ignored for a write-off)."""

    sku: Id
    quantity: Quantity
    disposition: Disposition
    location: Id


class Command(msgspec.Struct, frozen=True, tag=True, kw_only=True, forbid_unknown_fields=True):
    command_id: Id


class PlaceOrder(Command, frozen=True, tag=True, kw_only=True):
    order_id: Id
    customer_id: Id
    channel: Id
    campaign: Id | None = None
    payment_terms: PaymentTerms
    ship_to: ShipTo
    lines: Lines


class CancelOrder(Command, frozen=True, tag=True, kw_only=True):
    order_id: Id
    reason: Text


class CapturePayment(Command, frozen=True, tag=True, kw_only=True):
    """A prepaid order's payment, captured by the storefront's payment provider."""

    order_id: Id
    payment_id: Id
    amount_cents: Cents


class ShipLines(Command, frozen=True, tag=True, kw_only=True):
    order_id: Id
    shipment_id: Id
    location: Id
    lines: Annotated[
        tuple[SkuQuantity, ...], msgspec.Meta(min_length=1, max_length=LINES_PER_ORDER_MAX)
    ]


class DeliverOrder(Command, frozen=True, tag=True, kw_only=True):
    order_id: Id
    shipment_id: Id


class ReturnLines(Command, frozen=True, tag=True, kw_only=True):
    order_id: Id
    return_id: Id
    lines: Annotated[
        tuple[ReturnLine, ...], msgspec.Meta(min_length=1, max_length=LINES_PER_ORDER_MAX)
    ]


class ConfigureSlot(Command, frozen=True, tag=True, kw_only=True):
    sku: Id
    location: Id
    priority: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] = 0
    safety_stock: Count = 0
    backorder_limit: Count = 0


class ReceiveStock(Command, frozen=True, tag=True, kw_only=True):
    sku: Id
    location: Id
    quantity: Quantity
    reference: Id


class AdjustStock(Command, frozen=True, tag=True, kw_only=True):
    """A count correction: `delta`, or `set_to` with `expected` (compare-and-swap)."""

    sku: Id
    location: Id
    delta: Delta | None = None
    set_to: Count | None = None
    expected: Count | None = None
    reason: Text
    reference: Id


class SetCreditLimit(Command, frozen=True, tag=True, kw_only=True):
    customer_id: Id
    limit_cents: Cents
    payment_terms: PaymentTerms


class RecordPayment(Command, frozen=True, tag=True, kw_only=True):
    customer_id: Id
    payment_id: Id
    amount_cents: Annotated[int, msgspec.Meta(gt=0, le=10**15)]


class DecideCreditReview(Command, frozen=True, tag=True, kw_only=True):
    """An analyst's decision on an order held for credit review."""

    order_id: Id
    approve: bool
    decided_by: Id
    why: Text


class AdvanceClock(Command, frozen=True, tag=True, kw_only=True):
    """Move the logical clock to `now` (seconds); holds expire, invoices fall due."""

    now: Annotated[int, msgspec.Meta(ge=0, le=2**40)]


AnyCommand = (
    PlaceOrder
    | CancelOrder
    | CapturePayment
    | ShipLines
    | DeliverOrder
    | ReturnLines
    | ConfigureSlot
    | ReceiveStock
    | AdjustStock
    | SetCreditLimit
    | RecordPayment
    | DecideCreditReview
    | AdvanceClock
)

# Ids of commands become the causation ids of what they cause: the same
# client id always names the same UUID, so a retry is recognised after any
# restart without a lookup table of its own.
_COMMAND_NAMESPACE: Final = uuid.UUID("6f1d3c52-6a47-4c1e-9d0b-5e2b7a1c9f30")


_COMMAND_NAMESPACE_BYTES: Final = _COMMAND_NAMESPACE.bytes


def command_uuid(command_id: str) -> uuid.UUID:
    """`uuid.uuid5(_COMMAND_NAMESPACE, command_id)`; a batch's are built with `command_uuids`."""
    return name_uuid(_COMMAND_NAMESPACE_BYTES, command_id)


def command_uuids(command_ids: Sequence[str]) -> list[uuid.UUID]:
    """`command_uuid` of each id, in order, built in bulk (a batch's step)."""
    return name_uuids(_COMMAND_NAMESPACE_BYTES, command_ids)


json_decoder: Final = msgspec.json.Decoder(AnyCommand)
json_encoder: Final = msgspec.json.Encoder()
