"""Commands as storefronts send them: every figure is bounded where it is decoded."""

from __future__ import annotations

import json

import msgspec
import pytest

from engine.commands import STOCK_COUNT_MAX, json_decoder
from engine.stock.events import StockRejected
from tests.engine.conftest import Shop, adjust, configure

ADJUST = {"type": "AdjustStock", "command_id": "a1", "sku": "A", "location": "east"}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"set_to": 1, "expected": 2**70}, "$.expected"),
        ({"set_to": STOCK_COUNT_MAX + 1, "expected": 10}, "$.set_to"),
        ({"delta": -(2**64)}, "$.delta"),
        ({"delta": 2**63}, "$.delta"),
    ],
)
def test_a_figure_past_the_core_s_storage_is_refused_where_it_is_decoded(
    fields: dict[str, int], where: str
) -> None:
    line = json.dumps({**ADJUST, "reason": "count", "reference": "r", **fields})
    with pytest.raises(msgspec.ValidationError, match=rf"at `\{where}`"):
        json_decoder.decode(line)


def test_a_slot_setting_past_the_core_s_storage_is_refused_where_it_is_decoded() -> None:
    line = json.dumps(
        {
            "type": "ConfigureSlot",
            "command_id": "c",
            "sku": "A",
            "location": "x",
            "safety_stock": 2**64,
        }
    )
    with pytest.raises(msgspec.ValidationError, match=r"at `\$.safety_stock`"):
        json_decoder.decode(line)


def test_the_largest_figures_a_command_may_state_are_rejected_by_the_core_not_crashed_on(
    shop: Shop,
) -> None:
    for command in (
        adjust("A", "east", set_to=STOCK_COUNT_MAX, expected=10),
        adjust("A", "east", delta=STOCK_COUNT_MAX),
        adjust("A", "east", delta=-STOCK_COUNT_MAX),
        configure("A", "far", safety_stock=STOCK_COUNT_MAX),
    ):
        events = shop.events(command)
        assert [type(e) for e in events] == [StockRejected], command
    assert shop.events(adjust("A", "east", delta=1)) != []
