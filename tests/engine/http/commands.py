"""JSON commands as a storefront sends them; every id fresh unless one is given."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)

SHIP_TO = {"name": "A", "street": "1 Road", "city": "Town", "postal_code": "1", "country": "DE"}
Json = dict[str, Any]


def fresh(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def stock_and_credit(sku: str, customer: str, units: int = 10) -> list[Json]:
    """A slot of `sku` at w1 with `units` on hand; `customer` on net-30 with ample credit."""
    return [
        {"type": "ConfigureSlot", "command_id": fresh("cfg"), "sku": sku, "location": "w1"},
        {
            "type": "ReceiveStock",
            "command_id": fresh("rcv"),
            "sku": sku,
            "location": "w1",
            "quantity": units,
            "reference": "po-1",
        },
        {
            "type": "SetCreditLimit",
            "command_id": fresh("lim"),
            "customer_id": customer,
            "limit_cents": 1_000_000,
            "payment_terms": "net-30",
        },
    ]


def place(sku: str, customer: str, quantity: Any = 1, command_id: str | None = None) -> Json:
    return {
        "type": "PlaceOrder",
        "command_id": command_id or fresh("place"),
        "order_id": fresh("o"),
        "customer_id": customer,
        "channel": "web",
        "payment_terms": "net-30",
        "ship_to": SHIP_TO,
        "lines": [{"sku": sku, "quantity": quantity, "unit_price_cents": 250}],
    }


def kinds(answer: Json) -> list[str]:
    return [event["data"]["type"] for event in answer["events"]]
