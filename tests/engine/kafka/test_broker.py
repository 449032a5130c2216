"""The local broker through the real `stockledger kafka` command, and the test fixture.

Each CLI test runs `stockledger` as its own process, as a user would, so a broker that
died with the `up` process, or a `down` that left it running, would show here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from engine.kafka import Broker
from engine.kafka.jars import MANIFEST_NAME, broker_jars
from tests.kafka_fixtures import free_ports

STOCKLEDGER = Path(sys.executable).parent / "stockledger"
CLI_TIMEOUT_S = 180.0
# Above the broker's default of 1 MiB: proves `message.max.bytes` was raised for packed commits.
BIG_VALUE_BYTES = 3 * 1024 * 1024


def stockledger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STOCKLEDGER), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def kafka_args(data_dir: Path, port: int, controller_port: int) -> list[str]:
    return [
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--controller-port",
        str(controller_port),
    ]


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the named tools of this machine (e.g. java but no mvn)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        found = subprocess.run(["which", tool], capture_output=True, text=True, check=True)
        (folder / tool).symlink_to(os.path.realpath(found.stdout.strip()))
    return str(folder)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def round_trip(bootstrap: str, topic: str, value: bytes) -> bytes:
    """Create `topic`, produce `value` to it, consume it back from the start."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=2 * BIG_VALUE_BYTES
    )
    producer.send(topic, value).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30_000,
        fetch_max_bytes=2 * BIG_VALUE_BYTES,
        max_partition_fetch_bytes=2 * BIG_VALUE_BYTES,
    )
    try:
        record = next(iter(consumer))
    finally:
        consumer.close()
    value_read: bytes = record.value
    return value_read


def test_up_status_round_trip_down(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    port, controller_port = free_ports(2)
    args = kafka_args(data_dir, port, controller_port)

    up = stockledger("kafka", "up", *args)
    assert up.returncode == 0, up.stderr
    assert f"running at 127.0.0.1:{port}" in up.stdout
    pid = int((data_dir / "broker.pid").read_text())

    status = stockledger("kafka", "status", "--data-dir", str(data_dir))
    assert status.returncode == 0, status.stderr
    assert f"running at 127.0.0.1:{port} (pid {pid})" in status.stdout

    value = os.urandom(BIG_VALUE_BYTES)
    assert round_trip(f"127.0.0.1:{port}", "round-trip", value) == value
    assert "Kafka Server started" in (data_dir / "logs" / "server.log").read_text()

    down = stockledger("kafka", "down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    assert f"(pid {pid}) stopped" in down.stdout
    assert not listening(port)
    assert not (data_dir / "broker.pid").exists()

    status = stockledger("kafka", "status", "--data-dir", str(data_dir))
    assert status.returncode == 1
    assert "not running" in status.stdout


def test_a_second_start_uses_the_cache_and_no_maven(tmp_path: Path) -> None:
    manifest = broker_jars().parent / MANIFEST_NAME  # fetches now if this machine never did
    written_ns = manifest.stat().st_mtime_ns
    env = {**os.environ, "PATH": path_with(tmp_path, "java")}
    data_dir = tmp_path / "kafka"
    port, controller_port = free_ports(2)

    up = stockledger("kafka", "up", *kafka_args(data_dir, port, controller_port), env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert "Fetching" not in up.stderr
        assert listening(port)
    finally:
        stockledger("kafka", "down", "--data-dir", str(data_dir), env=env)
    assert manifest.stat().st_mtime_ns == written_ns


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        up = stockledger("kafka", "up", *kafka_args(tmp_path / "kafka", port, controller_port))
    assert up.returncode == 1
    assert f"Port {port} on 127.0.0.1 is taken" in up.stderr
    assert "choose another --port" in up.stderr
    assert not (tmp_path / "kafka" / "broker.pid").exists()


def test_a_taken_controller_port_is_named(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", controller_port))
        taken.listen()
        up = stockledger("kafka", "up", *kafka_args(tmp_path / "kafka", port, controller_port))
    assert up.returncode == 1
    assert f"Port {controller_port} on 127.0.0.1 is taken" in up.stderr
    assert "choose another --controller-port" in up.stderr


def test_missing_java_is_named(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": path_with(tmp_path, "mvn")}
    up = stockledger("kafka", "up", "--data-dir", str(tmp_path / "kafka"), env=env)
    assert up.returncode == 1
    assert "`java` is not on PATH" in up.stderr
    assert "apt-get install openjdk-17-jre-headless" in up.stderr


def test_missing_maven_is_named_when_the_cache_is_empty(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": path_with(tmp_path, "java"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    up = stockledger("kafka", "up", "--data-dir", str(tmp_path / "kafka"), env=env)
    assert up.returncode == 1
    assert "Maven (`mvn`) is not on PATH" in up.stderr
    assert "apt-get install maven" in up.stderr


def test_a_maven_failure_quotes_maven(tmp_path: Path) -> None:
    # A real Maven run that cannot succeed: offline, with an empty local repository.
    home = tmp_path / "home"
    (home / ".m2").mkdir(parents=True)
    (home / ".m2" / "settings.xml").write_text("<settings><offline>true</offline></settings>\n")
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "MAVEN_OPTS": f"-Duser.home={home}",
    }
    up = stockledger("kafka", "up", "--data-dir", str(tmp_path / "kafka"), env=env)
    assert up.returncode == 1
    assert "Maven failed to fetch Apache Kafka 4.1.1" in up.stderr
    assert "offline" in up.stderr.split("Its last lines:")[1]
    assert not any((tmp_path / "cache" / "stockledger" / "kafka").glob("kafka-*"))


def test_stop_kills_a_broker_that_ignores_sigterm(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    stop_timeout_s = 1.0
    broker = Broker(
        tmp_path / "kafka",
        port=port,
        controller_port=controller_port,
        stop_timeout_s=stop_timeout_s,
    )
    broker.start()
    pid = broker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    started = time.monotonic()
    broker.stop()
    assert time.monotonic() - started < stop_timeout_s + 5.0
    assert not broker.running
    assert not listening(port)


def test_the_fixture_broker_keeps_its_topics_across_a_restart(
    kafka_broker: Broker, kafka_prefix: str
) -> None:
    topic = f"{kafka_prefix}kept"
    value = b"before the restart"
    assert round_trip(kafka_broker.bootstrap, topic, value) == value
    pid = kafka_broker.pid
    kafka_broker.restart()
    assert kafka_broker.pid not in (None, pid)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    try:
        assert next(iter(consumer)).value == value
    finally:
        consumer.close()


_prefixes_seen: set[str] = set()


@pytest.mark.parametrize("run", range(3))
def test_kafka_prefix_is_fresh_for_each_test(kafka_prefix: str, run: int) -> None:
    assert len(_prefixes_seen) == run
    assert kafka_prefix[0] == "t"
    assert kafka_prefix[-1] == "-"
    assert kafka_prefix not in _prefixes_seen
    _prefixes_seen.add(kafka_prefix)


ORPHAN = """
import os, sys
from pathlib import Path
from engine.kafka import Broker
broker = Broker(
    Path(sys.argv[1]), port=int(sys.argv[2]), controller_port=int(sys.argv[3]), die_with_parent=True
)
broker.start()
print(broker.pid, flush=True)
os._exit(0)  # dies without stopping its broker, as a killed test run would
"""


def test_a_test_broker_stops_when_its_parent_dies(tmp_path: Path) -> None:
    # Both ports free: the controller's default (port + 1) may be anyone's.
    port, controller_port = free_ports(2)
    parent = subprocess.run(
        [sys.executable, "-c", ORPHAN, str(tmp_path / "kafka"), str(port), str(controller_port)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=True,
        cwd=Path(__file__).parents[3],
    )
    broker = Broker.at(tmp_path / "kafka")
    assert int(parent.stdout) > 0
    deadline = time.monotonic() + 60.0  # a loaded machine slows the broker's shutdown
    while broker.running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not broker.running
    assert not listening(port)
