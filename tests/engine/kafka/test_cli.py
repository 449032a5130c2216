"""The CLI on a real broker: the demo on Kafka, and `tail` reading what it wrote."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from engine.cli import app
from engine.codec import decode, to_json
from engine.kafka import Broker
from engine.store import open_factory

runner = CliRunner()


def words(output: str) -> str:
    """The text of an error box, unwrapped."""
    return " ".join(output.replace("│", " ").split())


def test_demo_on_kafka_and_tail_of_its_topics(kafka_broker: Broker, kafka_prefix: str) -> None:
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    result = runner.invoke(app, ["demo", "--store", url, "--orders", "400", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["orders"] == 400
    assert summary["verify"]["ok"] is True

    factory = open_factory(url)
    try:
        stored = factory.application_recorder().select_notifications(None, 10**6)
    finally:
        factory.close()
    assert len(stored) == summary["events"]
    orders = [to_json(decode(n.state)) for n in stored if n.topic.startswith("orders:")]

    tailed = runner.invoke(
        app, ["tail", "orders", "--store", url, "--from-beginning", "--no-follow"]
    )
    assert tailed.exit_code == 0, tailed.output
    assert tailed.stdout_bytes.splitlines() == orders


def test_the_demo_picks_fresh_topics_when_the_url_names_none(kafka_broker: Broker) -> None:
    url = f"kafka://{kafka_broker.bootstrap}"
    first = runner.invoke(app, ["demo", "--store", url, "--orders", "50", "--json"])
    second = runner.invoke(app, ["demo", "--store", url, "--orders", "50", "--json"])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    stores = [r.stderr.split("demo store: ")[1].split()[0] for r in (first, second)]
    assert stores[0] != stores[1]
    assert all("?prefix=demo-" in s for s in stores)


def test_tail_names_what_is_wrong(kafka_broker: Broker, kafka_prefix: str) -> None:
    url = f"kafka://{kafka_broker.bootstrap}?prefix={kafka_prefix}"
    unknown = runner.invoke(app, ["tail", "ordres", "--store", url, "--no-follow"])
    assert unknown.exit_code == 2
    assert "no topic 'ordres' to tail" in words(unknown.output)
    missing = runner.invoke(app, ["tail", "orders", "--store", url, "--no-follow"])
    assert missing.exit_code == 2
    assert f"topic '{kafka_prefix}orders' is not on the broker" in words(missing.output)
