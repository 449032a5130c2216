"""Telesales: the call list, orders a call may save, with their customer and value.

`call_list` has a row per order still in play: from the moment it is placed
until it is confirmed, rejected or cancelled, when the row goes (nothing to
call about). While it waits the row is not yet a call; it becomes one when

- the order is held (`reason` `credit_held`, with the hold's reason in
  `held_reason`: an analyst's review, or a prepaid order's payment), or
- its stock holds expired before it was confirmed (`reason` `expired`; the
  hold's reason stays if it had one): the customer may order again.

An expired order stays on the list: nothing that happens later is about it.
`since` is when it became a call. Rows of orders not (yet) a call have no
`reason` and are left out by the queries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final

from engine.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreditHeld,
    OrderExpired,
    OrderPlaced,
    OrderRejected,
)
from projections.projection import (
    BIGINT,
    TEXT,
    Key,
    Positioned,
    Projection,
    Rows,
    Table,
    stamp,
    value_cents,
)

CALL_LIST: Final = "call_list"

CREDIT_HELD: Final = "credit_held"
EXPIRED: Final = "expired"

_SETTLED: Final = (OrderConfirmed, OrderRejected, OrderCancelled)
_EVENTS: Final = (OrderPlaced, OrderCreditHeld, OrderExpired, *_SETTLED)
# Looked up by exact type: one hash an event, where `isinstance` tries each class in turn.
_TRACKED: Final = frozenset(_EVENTS)
_SETTLED_KINDS: Final = frozenset(_SETTLED)


def _placed(data: OrderPlaced, at: str) -> dict[str, Any]:
    return {
        "order_id": data.order_id,
        "customer_id": data.customer_id,
        "channel": data.channel,
        "payment_terms": data.payment_terms,
        "value_cents": value_cents(data.lines),
        "placed_at": at,
        "reason": None,
        "held_reason": None,
        "since": None,
    }


class Telesales(Projection):
    name: ClassVar[str] = "telesales"
    reads: ClassVar[tuple[type, ...] | None] = _EVENTS
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            CALL_LIST,
            (
                ("order_id", TEXT),
                ("customer_id", TEXT),
                ("channel", TEXT),
                ("payment_terms", TEXT),
                ("value_cents", BIGINT),
                ("placed_at", TEXT),
                ("reason", TEXT),
                ("held_reason", TEXT),
                ("since", TEXT),
            ),
            key=("order_id",),
            indexes=(("reason", "since"), ("customer_id",)),
        ),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        for _, event in events:
            if isinstance(event.data, _EVENTS):
                yield CALL_LIST, (event.data.order_id,)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        tracked, settled = _TRACKED, _SETTLED_KINDS
        for _, event in events:
            data = event.data
            kind = type(data)
            if kind not in tracked:
                continue
            assert isinstance(data, _EVENTS)
            key = (data.order_id,)
            if kind is OrderPlaced:
                assert isinstance(data, OrderPlaced)
                rows.insert(CALL_LIST, key, _placed(data, stamp(event.timestamp)))
            elif rows.peek(CALL_LIST, key) is None:
                continue  # settled already, or never placed
            elif kind in settled:
                rows.delete(CALL_LIST, key)
            else:
                call = rows.row(CALL_LIST, key)
                assert call is not None
                if isinstance(data, OrderCreditHeld):
                    call["reason"], call["held_reason"] = CREDIT_HELD, data.reason.value
                else:
                    call["reason"] = EXPIRED
                call["since"] = stamp(event.timestamp)
