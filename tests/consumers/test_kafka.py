"""Credit review on the Kafka store: decisions go to the commands topic, the service takes them."""

from __future__ import annotations

from pathlib import Path

import msgspec

from consumers.consumer import Runner
from consumers.credit_review import CreditReview, ReviewPolicy
from consumers.sink import KafkaSink
from engine.codec import decode_for_replay
from engine.commands import AnyCommand
from engine.events import CreditHeld, CreditReviewDecided
from engine.kafka import Broker
from engine.kafka.service import Service, kafka_settings
from engine.store import open_factory
from projections.db import connect
from tests.consumers.conftest import credit, place, slot

_commands = msgspec.json.Decoder(list[AnyCommand])


def test_decisions_sent_to_the_commands_topic_land_as_events(
    kafka_broker: Broker, kafka_prefix: str, tmp_path: Path
) -> None:
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    setup = [
        *slot("sku-1", 10_000),
        credit("small", 50_000),
        credit("mid", 100_000),
        place("o-small", "small", "sku-1", 520),
        place("o-mid", "mid", "sku-1", 1_050),
    ]
    sink = KafkaSink(kafka_settings(url))
    factory = open_factory(url)
    try:
        sink.send(_commands.decode(msgspec.json.encode(setup)))
        Service(url).run(drain=True)
        recorder = factory.application_recorder()
        with connect(f"sqlite:///{tmp_path / 'readmodels.db'}") as db:
            runner = Runner(
                CreditReview(ReviewPolicy(approve_max_cents=60_000)), db, recorder, sink
            )
            runner.catch_up()
            Service(url).run(drain=True)
            events = decode_for_replay(
                n.state for n in recorder.select_notifications(None, 100_000)
            )
            assert runner.checkpoint > 0
    finally:
        sink.close()
        factory.close()
    assert sum(isinstance(e.data, CreditHeld) for e in events) == 2
    decided = [e.data for e in events if isinstance(e.data, CreditReviewDecided)]
    assert [(d.order_id, d.approved) for d in decided] == [("o-small", True)]
