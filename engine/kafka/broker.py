"""A local Apache Kafka 4.x broker: one KRaft node, broker and controller, on 127.0.0.1.

For a developer's machine and for tests. One node with replication factor 1 voids
Kafka's durability guarantees (production runs three brokers with
`min.insync.replicas=2`); the settings here are sized for a small machine.

The data dir holds everything of one broker: `server.properties` (written at each
start from the ports asked for), `storage/` (the topics and the KRaft metadata log),
`logs/server.log` (the broker's own log; the JVM's stray output goes to
`logs/jvm.out`) and `broker.pid` while it runs.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Final

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from engine.kafka import class_archive
from engine.kafka.errors import BrokerError
from engine.kafka.jars import broker_jars, cached_jars

HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9092
DEFAULT_DATA_DIR: Final = Path("data/kafka")
NODE_ID: Final = 1

JAVA_VERSION_MIN: Final = 17
HEAP_MAX_MB: Final = 768
MESSAGE_BYTES_MAX: Final = 16 * 1024 * 1024
CLEANER_DEDUPE_BUFFER_BYTES: Final = 8 * 1024 * 1024
INTERNAL_TOPIC_PARTITIONS: Final = 8

READY_TIMEOUT_S: Final = 90.0
READY_POLL_S: Final = 0.2
PROBE_TIMEOUT_S: Final = 2.0
STOP_TIMEOUT_S: Final = 30.0
KILL_TIMEOUT_S: Final = 10.0
FORMAT_TIMEOUT_S: Final = 120.0
JAVA_VERSION_TIMEOUT_S: Final = 30.0
LOG_TAIL_LINES: Final = 20
PR_SET_PDEATHSIG: Final = 1  # from <linux/prctl.h>

PID_FILE: Final = "broker.pid"
PROPERTIES_FILE: Final = "server.properties"
LOG4J_FILE: Final = "log4j2.properties"
STORAGE_DIR: Final = "storage"
LOGS_DIR: Final = "logs"

JVM_OPTIONS: Final = (
    "-Xms256m",
    f"-Xmx{HEAP_MAX_MB}m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# The storage tool runs for a second: a small heap and the quick JIT tier start it fastest.
TOOL_JVM_OPTIONS: Final = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")

_LISTENERS = re.compile(r"^listeners=PLAINTEXT://[^:]+:(\d+),CONTROLLER://[^:]+:(\d+)$", re.M)
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


class Broker:
    """One local broker in `data_dir`; its topics survive `stop`, `start` and `restart`."""

    def __init__(
        self,
        data_dir: Path = DEFAULT_DATA_DIR,
        *,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        cache_dir: Path | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        announce: Callable[[str], None] = lambda _: None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.controller_port = controller_port if controller_port is not None else port + 1
        if self.port == self.controller_port:
            raise BrokerError(f"The broker and its controller both asked for port {port}")
        self.cache_dir = cache_dir
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.announce = announce
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def at(
        cls, data_dir: Path = DEFAULT_DATA_DIR, *, stop_timeout_s: float = STOP_TIMEOUT_S
    ) -> Broker:
        """The broker last started in `data_dir`, on the ports it was started on."""
        properties = data_dir / PROPERTIES_FILE
        found = _LISTENERS.search(properties.read_text()) if properties.is_file() else None
        if found is None:
            return cls(data_dir, stop_timeout_s=stop_timeout_s)
        port, controller_port = int(found[1]), int(found[2])
        return cls(
            data_dir, port=port, controller_port=controller_port, stop_timeout_s=stop_timeout_s
        )

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOGS_DIR / "server.log"

    @property
    def pid(self) -> int | None:
        """The pid of this data dir's running broker, or None."""
        try:
            pid = int((self.data_dir / PID_FILE).read_text())
        except (OSError, ValueError):
            return None
        return pid if self._alive(pid) else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Fetch the jars unless cached, format the storage once, start, wait until ready."""
        running = self.pid
        if running is not None:
            raise BrokerError(
                f"A Kafka broker already runs from {self.data_dir} (pid {running}); "
                f"stop it first: stockledger kafka down --data-dir {self.data_dir}"
            )
        java, java_identity = _java()
        libs = broker_jars(self.cache_dir, announce=self.announce)
        for port, option in ((self.port, "--port"), (self.controller_port, "--controller-port")):
            _check_port_free(port, option)
        self._write_config()
        # Named jars in a fixed order, not `libs/*`: the class archive records the class path.
        classpath = os.pathsep.join(str(jar) for jar in sorted(libs.glob("*.jar")))
        if not (self.data_dir / STORAGE_DIR / "meta.properties").is_file():
            self._format(java, classpath)
        archive = class_archive.jvm_options(libs.parent, java_identity, self.data_dir)
        self._spawn(java, classpath, archive)
        try:
            self.wait_ready()
        except BaseException:
            self._kill()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the broker has not exited within `stop_timeout_s`."""
        pid = self.pid
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            exited_cleanly = self._wait_exit(pid, self.stop_timeout_s)
            if not exited_cleanly:
                _signal(pid, signal.SIGKILL)
                if not self._wait_exit(pid, KILL_TIMEOUT_S):
                    raise BrokerError(f"The Kafka broker (pid {pid}) survived SIGKILL")
            self._settle_archive(exited_cleanly=exited_cleanly)
        self._process = None
        (self.data_dir / PID_FILE).unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Return once the broker answers a cluster description naming itself, unfenced."""
        limit_s = self.ready_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.pid is None:
                raise BrokerError(
                    f"The Kafka broker exited while starting. The end of {self.log_path}:\n"
                    f"{self._log_tail()}"
                )
            if _answers(self.bootstrap):
                return
            time.sleep(READY_POLL_S)
        raise BrokerError(
            f"The Kafka broker did not answer at {self.bootstrap} within {limit_s:.0f} s "
            f"(ready_timeout_s). The end of {self.log_path}:\n{self._log_tail()}"
        )

    def _write_config(self) -> None:
        (self.data_dir / LOGS_DIR).mkdir(parents=True, exist_ok=True)
        (self.data_dir / PROPERTIES_FILE).write_text(self._properties())
        log4j = resources.files("engine.kafka").joinpath(LOG4J_FILE).read_bytes()
        (self.data_dir / LOG4J_FILE).write_bytes(log4j)

    def _properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": NODE_ID,
            # Static voters, not `--standalone`: the voter's address lives in this file,
            # so a later start on other ports keeps the data.
            "controller.quorum.voters": f"{NODE_ID}@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": self.data_dir / STORAGE_DIR,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": INTERNAL_TOPIC_PARTITIONS,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": INTERNAL_TOPIC_PARTITIONS,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            # The store packs a whole commit into one record.
            "message.max.bytes": MESSAGE_BYTES_MAX,
            "replica.fetch.max.bytes": MESSAGE_BYTES_MAX,
            "log.cleaner.threads": 1,
            "log.cleaner.dedupe.buffer.size": CLEANER_DEDUPE_BUFFER_BYTES,
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        return "# Written by stockledger at each start; edits are lost.\n" + "\n".join(lines) + "\n"

    def _java_command(self, java: str, options: tuple[str, ...], classpath: str) -> list[str]:
        return [
            java,
            *options,
            f"-Dlog4j2.configurationFile={self.data_dir / LOG4J_FILE}",
            f"-Dkafka.logs.dir={self.data_dir / LOGS_DIR}",
            "-cp",
            classpath,
        ]

    def _format(self, java: str, classpath: str) -> None:
        command = [
            *self._java_command(java, TOOL_JVM_OPTIONS, classpath),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            _cluster_id(),
            "--config",
            str(self.data_dir / PROPERTIES_FILE),
        ]
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=FORMAT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BrokerError(
                f"Formatting the Kafka storage in {self.data_dir} took over "
                f"{FORMAT_TIMEOUT_S:.0f} s (FORMAT_TIMEOUT_S)"
            ) from None
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-LOG_TAIL_LINES:])
            raise BrokerError(
                f"Formatting the Kafka storage in {self.data_dir / STORAGE_DIR} failed:\n{tail}\n"
                "If the folder holds something else, choose another --data-dir."
            )

    def _settle_archive(self, *, exited_cleanly: bool) -> None:
        libs = cached_jars(self.cache_dir)
        if libs is not None:
            class_archive.settle(libs.parent, self.data_dir, exited_cleanly=exited_cleanly)

    def _spawn(self, java: str, classpath: str, archive_options: list[str]) -> None:
        command = [
            *self._java_command(java, (*JVM_OPTIONS, *archive_options), classpath),
            "kafka.Kafka",
            str(self.data_dir / PROPERTIES_FILE),
        ]
        with (self.data_dir / LOGS_DIR / "jvm.out").open("ab") as jvm_out:
            # A session of its own: the broker outlives `kafka up` and ignores its Ctrl-C.
            # A test session's broker is told to stop if the tests die without stopping it.
            self._process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=jvm_out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_term_on_parent_death if self.die_with_parent else None,
            )
        (self.data_dir / PID_FILE).write_text(f"{self._process.pid}\n")

    def _kill(self) -> None:
        pid = self.pid
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            self._wait_exit(pid, KILL_TIMEOUT_S)
        self._settle_archive(exited_cleanly=False)
        self._process = None
        (self.data_dir / PID_FILE).unlink(missing_ok=True)

    def _alive(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # The pid may have been reused since the pid file was written: is it our broker?
        # (A zombie's cmdline is empty, so an exited broker does not count either.)
        cmdline = Path(f"/proc/{pid}/cmdline")
        if not cmdline.exists():
            return True
        try:
            return str(self.data_dir / PROPERTIES_FILE).encode() in cmdline.read_bytes()
        except OSError:
            return False

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout_s
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(READY_POLL_S)
        return True

    def _log_tail(self) -> str:
        lines: list[str] = []
        for path in (self.log_path, self.data_dir / LOGS_DIR / "jvm.out"):
            try:
                lines += path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            except OSError:
                continue
        return "\n".join(lines) if lines else "(no log written)"


def _java() -> tuple[str, str]:
    """The machine's `java`, checked to be new enough for Kafka 4, and its identity."""
    java = shutil.which("java")
    if java is None:
        raise BrokerError(
            f"Java {JAVA_VERSION_MIN} or newer runs the Kafka broker, and `java` is not on PATH. "
            "Install it (Debian: apt-get install openjdk-17-jre-headless) or put it on PATH."
        )
    java = os.path.realpath(java)
    version = _java_version(java)
    found = _JAVA_VERSION.search(version)
    if found is None:
        raise BrokerError(f"Cannot tell the version of {java} from:\n{version}")
    major = int(found[1]) if found[1] != "1" else int(found[2] or 0)  # "1.8.0" is Java 8
    if major < JAVA_VERSION_MIN:
        raise BrokerError(
            f"{java} is Java {major}; Kafka 4 needs Java {JAVA_VERSION_MIN} or newer. "
            "Put a newer `java` first on PATH."
        )
    return java, f"{java}\n{version}"


@functools.cache
def _java_version(java: str) -> str:
    """What `java -version` says (on stderr)."""
    try:
        done = subprocess.run(
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=JAVA_VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BrokerError(f"{java} -version failed ({error}); check the Java install") from None
    return done.stderr + done.stdout


def _term_on_parent_death() -> None:
    """In the broker's process before exec: SIGTERM once its parent dies (Linux only)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited since we looked
        os.kill(pid, signum)


def _check_port_free(port: int, option: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the broker binds: a port left in TIME_WAIT by its last run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise BrokerError(
                f"Port {port} on {HOST} is taken ({error.strerror}); the Kafka broker needs it. "
                f"Stop what listens there (e.g. `ss -ltnp 'sport = :{port}'` shows it) "
                f"or choose another {option}."
            ) from None


def _answers(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError:
        return False
    timeout_ms = int(PROBE_TIMEOUT_S * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
        try:
            cluster = admin.describe_cluster()
        finally:
            admin.close()
    except (KafkaError, OSError):
        return False
    return any(b["broker_id"] == NODE_ID and not b["is_fenced"] for b in cluster["brokers"])


def _cluster_id() -> str:
    """A random cluster id as Kafka writes one: a UUID in URL-safe base64, unpadded."""
    raw = bytearray(uuid.uuid4().bytes)
    # Kafka refuses ids that start with "-" (they read as a command-line flag): clearing
    # the top bit keeps the first character among A-Z and a-f.
    raw[0] &= 0x7F
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
