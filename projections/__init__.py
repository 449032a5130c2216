"""Read models: projections of the store's events into SQL tables.

Each projection (`inventory`, `orders`, ...) is a pure fold of events into
rows (`projections.projection`); `projections.runner` applies a store's
events to it with its checkpoint in the same transaction, rebuilds it from
zero and reports its lag; `projections.db` connects to SQLite or PostgreSQL
by URL; `projections.queries` reads the read models for the CLI and the API.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from projections.credit import Credit
from projections.customers import Customers
from projections.inventory import Inventory
from projections.logistics import Logistics
from projections.marketing import Marketing
from projections.orders import Orders
from projections.planning import Planning
from projections.platform import Platform
from projections.projection import Projection
from projections.telesales import Telesales

__all__ = ["PROJECTIONS", "Projection", "select"]

PROJECTIONS: Final[MappingProxyType[str, Projection]] = MappingProxyType(
    {
        p.name: p
        for p in (
            Inventory(),
            Orders(),
            Planning(),
            Credit(),
            Logistics(),
            Telesales(),
            Customers(),
            Marketing(),
            Platform(),
        )
    }
)


def select(names: list[str] | None = None) -> list[Projection]:
    """The projections named, in the registry's order; all of them for None or []."""
    if not names:
        return list(PROJECTIONS.values())
    unknown = [n for n in names if n not in PROJECTIONS]
    if unknown:
        msg = f"no projection {', '.join(map(repr, unknown))}; known: {', '.join(PROJECTIONS)}"
        raise KeyError(msg)
    return [PROJECTIONS[n] for n in PROJECTIONS if n in names]
