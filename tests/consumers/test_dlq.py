"""Poison events: dead letters with the error and the raw bytes, the consumer goes on;
`stockledger dlq list | replay` after the cause is fixed, over the letter's partition."""

from __future__ import annotations

import json
from pathlib import Path

from eventsourcing.persistence import StoredEvent
from typer.testing import CliRunner

from consumers import dlq
from consumers.alerts import LowStock, alerts
from consumers.consumer import Effects
from consumers.credit_review import CreditReview, ReviewPolicy
from engine.cli import app
from engine.events import CreditHeld, CreditReviewDecided, StreamEvent
from engine.store import open_factory
from projections.db import Database, connect
from projections.runner import status
from tests.consumers.conftest import KafkaStore, Served, credit, place, slot
from tests.engine.http.server import TOKEN

GARBAGE = b"\xc1 not an event"


class BrokenFor(CreditReview):
    """The policy with a bug for one order, until it is fixed."""

    def __init__(self, order_id: str) -> None:
        super().__init__(ReviewPolicy(approve_max_cents=60_000))
        self.broken = order_id

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        if isinstance(event.data, CreditHeld) and event.data.order_id == self.broken:
            raise ValueError(f"policy bug on {self.broken}")
        return super().handle(db, event)


def test_poison_events_are_dead_letters_and_a_replay_after_the_fix_clears_them(
    served: Served,
) -> None:
    served.post(
        [
            *slot("sku-1", 10_000),
            credit("a", 50_000),
            credit("b", 50_000),
            credit("c", 50_000),
            place("o-a", "a", "sku-1", 520),
        ]
    )
    # An event no decoder knows, written by another writer into the same store.
    served.recorder.insert_events(
        [
            StoredEvent(
                originator_id="credit-x", originator_version=1, topic="credit:X", state=GARBAGE
            )
        ]
    )
    served.post([place("o-b", "b", "sku-1", 520), place("o-c", "c", "sku-1", 520)])

    runner = served.runner(BrokenFor("o-b"))
    runner.catch_up()

    decided = {e.data.order_id for e in served.events() if isinstance(e.data, CreditReviewDecided)}
    assert decided == {"o-a", "o-c"}, "the events after the poison ones were handled"
    letters = dlq.listing(served.db, consumer="credit-review")
    assert len(letters) == 2
    garbage, broken = letters
    assert garbage.raw == GARBAGE
    assert garbage.error.startswith("cannot decode")
    assert "policy bug on o-b" in broken.error
    assert runner.checkpoint == served.recorder.max_notification_id()

    cli = CliRunner()
    db_option = ["--db", served.db.url]
    listed = cli.invoke(app, ["dlq", "list", *db_option, "--json"])
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [
        garbage.id,
        broken.id,
    ]

    # The bug is fixed: the replay decides o-b and removes its letter.
    assert (
        served.runner(CreditReview(ReviewPolicy(approve_max_cents=60_000))).replay(broken) is None
    )
    decided = {e.data.order_id for e in served.events() if isinstance(e.data, CreditReviewDecided)}
    assert decided == {"o-a", "o-b", "o-c"}

    # Bytes no decoder knows fail again, and the letter keeps the new error.
    options = ["--store", served.store_url, *db_option, "--intake", served.url, "--token", TOKEN]
    replayed = cli.invoke(app, ["dlq", "replay", str(garbage.id), *options])
    assert replayed.exit_code == 1, replayed.output
    assert "failed again: cannot decode" in replayed.output
    assert [letter.id for letter in dlq.listing(served.db)] == [garbage.id]


def test_a_replay_on_kafka_runs_over_the_partition_of_the_letter(
    kafka_store: KafkaStore, tmp_path: Path
) -> None:
    """The letter's consumer catches up its read models there first: replayed over another
    partition, the alerts consumer would find no slot to evaluate."""
    db_url = f"sqlite:///{tmp_path / 'readmodels.db'}"
    kafka_store.submit(1, slot("sku-p1", 3, safety_stock=5))
    factory = open_factory(kafka_store.at(1))
    try:
        recorder = factory.application_recorder()
        received = recorder.select_notifications(None, 100)[-1]
        with connect(db_url) as db:
            dlq.ensure_table(db)
            with db.transaction():
                dlq.add(db, LowStock.name, 1, received.id, "a bug, since fixed", received.state)
            (letter,) = dlq.listing(db)
        cli = CliRunner()
        replay = ["dlq", "replay", str(letter.id), "--db", db_url, "--store"]
        at_0 = cli.invoke(app, [*replay, kafka_store.at(0)])
        assert at_0.exit_code == 1
        assert "the event is in partition 1" in at_0.output
        grouped = cli.invoke(app, [*replay, kafka_store.url])
        assert grouped.exit_code == 0, grouped.output
        assert f"{letter.id}: handled, removed" in grouped.output
        with connect(db_url) as db:
            assert [(a.sku, a.available) for a in alerts(db)] == [("sku-p1", -2)]
            assert {s.lag for s in status(db, recorder, LowStock.reads)} == {0}
    finally:
        factory.close()
