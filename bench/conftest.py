"""Collects each bar's figure while the bench runs and prints them at the end."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import pytest
from pytest_benchmark.fixture import BenchmarkFixture


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    bar: str


_figures: list[Figure] = []

Record = Callable[[str, float, str, str], None]


@pytest.fixture
def figure() -> Record:
    """`figure(name, value, unit, bar)`: one line of the closing table."""

    def record(name: str, value: float, unit: str, bar: str = "") -> None:
        _figures.append(Figure(name, value, unit, bar))

    return record


def per_second(benchmark: BenchmarkFixture, items_per_call: int) -> float | None:
    """Items per second at the median round, or None when timing is off."""
    if benchmark.disabled or benchmark.stats is None:
        return None
    return items_per_call / benchmark.stats.stats.median


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    memory_gib = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count(logical=True)} cores ({cpu}), {memory_gib:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _figures:
        return
    write = terminalreporter.write_line
    write("")
    write(f"stockledger bench figures on {machine()}")
    width = max(len(f.name) for f in _figures)
    for f in _figures:
        bar = f"  (bar: {f.bar})" if f.bar else ""
        # Ratios are small numbers: 2.7x must not print as 3x.
        value = f"{f.value:>14,.1f}" if abs(f.value) < 100 else f"{f.value:>14,.0f}"
        write(f"  {f.name:<{width}}  {value} {f.unit}{bar}")
