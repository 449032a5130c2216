"""Upcasters: how a stored payload of an old schema version becomes the current shape.

Stored bytes never change. When a payload's shape changes, its entry in
`engine.events.SCHEMA_VERSIONS` goes up by one and an upcaster registered here
turns the old version's fields into the new one's; the codec applies the chain
on read, only to events stored at an older version. An upcaster receives the
payload's fields as plain MessagePack values (the `type` tag removed) and
returns the next version's fields; it must not read anything but its argument,
so a replay gives the same answer forever.

    @upcaster("OrderPlaced", from_version=1)
    def _order_placed_v1(fields: dict[str, Any]) -> dict[str, Any]:
        fields["channel"] = fields.pop("sales_channel")
        return fields

`engine.codec.Decoder` refuses to start unless every payload type has exactly
the upcasters 1 -> 2 -> ... -> its current version.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Final

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_registry: dict[tuple[str, int], Upcaster] = {}

UPCASTERS: Final[MappingProxyType[tuple[str, int], Upcaster]] = MappingProxyType(_registry)
"""(payload type name, version it reads) -> function returning the next version."""


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the decorated function as the upcaster of `type_name` from `from_version`."""

    def register(function: Upcaster) -> Upcaster:
        key = (type_name, from_version)
        if key in _registry:
            msg = f"{type_name} already has an upcaster from schema version {from_version}"
            raise ValueError(msg)
        _registry[key] = function
        return function

    return register
