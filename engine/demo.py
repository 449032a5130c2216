"""The demo: a seeded storefront drives the engine, then `verify` checks the whole store.

Customers with limits and terms, a catalogue with a few hot SKUs across
several locations, multi-line orders, payments, reviews, cancellations,
shipments, returns and restocks, with the clock advancing so holds expire and
invoices fall due (see `engine.simulator`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from engine.engine import Engine
from engine.simulator import SimulationStats, SimulatorSettings, run
from engine.verify import VerifyReport, verify_store


@dataclass(frozen=True)
class DemoSummary:
    orders: int
    seconds: float
    stats: SimulationStats
    report: VerifyReport

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "orders_per_s": round(self.orders_per_s),
            "seconds": round(self.seconds, 3),
            "events": self.stats.events,
            "commands": sum(self.stats.commands.values()),
            "outcomes": self.stats.outcomes,
            "rejections": self.stats.rejections,
            "verify": self.report.as_dict(),
        }


def run_demo(
    recorder: ApplicationRecorder,
    settings: SimulatorSettings,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    engine = Engine.open(recorder)
    began = time.perf_counter()
    stats = run(engine, settings, progress)
    seconds = time.perf_counter() - began
    return DemoSummary(settings.orders, seconds, stats, verify_store(recorder))
