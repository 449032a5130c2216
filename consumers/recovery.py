"""Riding out a broker restart: which failures are transient, and the wait between attempts.

A consumer that loses the broker (it restarts, the network drops) closes what
talks to it, waits, opens it again and resumes from its SQL checkpoints. That
is safe at any point: the checkpoint moves in the transaction of the rows, so
a batch cut short is handled again from its start and written once, and
nothing after the checkpoint is skipped; its commands, if it sent any, are
sent again and answered as retries by their ids.

The wait grows (`RETRY_DELAY_S_FIRST`, doubled each time, at most
`RETRY_DELAY_S_MAX`) and the attempts are bounded (`RETRY_ATTEMPTS_MAX` in a
row): a broker that stays away ends the process with the last error, rather
than a loop forever. A stop (SIGTERM) ends the wait at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

from eventsourcing.persistence import OperationalError
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from engine.store import kafka_environment

__all__ = [
    "PROBE_TIMEOUT_MS",
    "RETRY_ATTEMPTS_MAX",
    "RETRY_DELAY_S_FIRST",
    "RETRY_DELAY_S_MAX",
    "Backoff",
    "RecoveryError",
    "check_broker",
    "ride_out",
    "transient",
]

RETRY_DELAY_S_FIRST: Final = 0.5
RETRY_DELAY_S_MAX: Final = 10.0
# With the delays above, some four and a half minutes of waiting: more than a
# broker takes to restart and recover its logs, short enough to page someone.
RETRY_ATTEMPTS_MAX: Final = 30
# How long `check_broker` waits for the broker to answer.
PROBE_TIMEOUT_MS: Final = 1_000


class RecoveryError(RuntimeError):
    """Transient failures went on past the attempt limit."""


def transient(error: BaseException) -> bool:
    """Whether `error` may pass if the same work is tried again after a wait.

    Transient: the store's `OperationalError` (eventsourcing's: the Kafka
    store raises it when the broker does not answer, a read does not reach
    the end of its topics in time, or a connection is lost), and a kafka-python
    error that kafka-python itself marks `retriable` (a refused connection, a
    timeout, a coordinator or leader not available yet), also when it is the
    cause of a `GroupError` or `SinkError`. A few `OperationalError`s are not
    the broker's passing state (a compacted record, a damaged partition), but
    they fail again on every attempt and so end at the attempt limit, named.

    Not transient, so the process stops at once: the store's `InterfaceError`
    (a topic with the wrong partitions or configs, settings that clash: the
    configuration is wrong and waiting does not change it); a kafka-python
    error not marked retriable (authorisation, a bad group id, a closed
    client); a SQL error of the read-model database (its own exception
    classes, never eventsourcing's: a consumer must not go on past rows it
    could not write); a sink that answered with a refusal; any other exception
    (a bug). An event that does not decode or whose handler raises never gets
    here: it is a dead letter and the consumer goes on. Nor is `RecoveryError`,
    whatever its cause: the retries are over.
    """
    if isinstance(error, RecoveryError):
        return False
    for link in _causes(error):
        if isinstance(link, OperationalError):
            return True
        if isinstance(link, KafkaError):
            return bool(link.retriable)
    return False


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and its explicit causes (`raise ... from`), not what it interrupted."""
    link: BaseException | None = error
    while link is not None:
        yield link
        link = link.__cause__


def check_broker(store_url: str) -> None:
    """Raise a retriable `KafkaError` unless the broker of a Kafka store answers within
    `PROBE_TIMEOUT_MS`; nothing for any other store.

    Asked before the store is opened again after a failure. The store's own
    clients wait the store's timeout (30 s by default) to find the brokers:
    opened while the broker is still away they would sleep through its
    return, and through a stop, before they failed.
    """
    if not store_url.startswith("kafka:"):
        return
    servers = kafka_environment(store_url)["KAFKA_BOOTSTRAP_SERVERS"]
    KafkaAdminClient(
        bootstrap_servers=servers,
        bootstrap_timeout_ms=PROBE_TIMEOUT_MS,
        request_timeout_ms=PROBE_TIMEOUT_MS,
        reconnect_backoff_max_ms=PROBE_TIMEOUT_MS,
    ).close()


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Backoff:
    """The waits between attempts after transient failures; `recovered` starts them over."""

    def __init__(
        self,
        what: str,
        out: Callable[[str], None],
        *,
        delay_s_first: float = RETRY_DELAY_S_FIRST,
        delay_s_max: float = RETRY_DELAY_S_MAX,
        attempts_max: int = RETRY_ATTEMPTS_MAX,
    ) -> None:
        if not 0 < delay_s_first <= delay_s_max:
            msg = f"delays must be 0 < first ({delay_s_first}) <= max ({delay_s_max})"
            raise ValueError(msg)
        if attempts_max < 1:
            msg = f"attempts_max must be at least 1, got {attempts_max}"
            raise ValueError(msg)
        self.what = what
        self.out = out
        self.delay_s_first = delay_s_first
        self.delay_s_max = delay_s_max
        self.attempts_max = attempts_max
        self.failures = 0

    def recovered(self) -> None:
        """The work went through: the next failure waits the first delay again."""
        if self.failures:
            self.out(f"{self.what}: recovered after {self.failures} failed attempts")
            self.failures = 0

    def wait(self, error: BaseException, stop: threading.Event | None) -> bool:
        """After the transient `error`: say so, wait the next delay; False if stopped meanwhile.

        Raises `RecoveryError` once `attempts_max` attempts in a row have failed.
        """
        self.failures += 1
        if self.failures > self.attempts_max:
            msg = (
                f"{self.what}: gave up after {self.attempts_max} attempts in a row failed; "
                f"the last: {describe(error)}"
            )
            raise RecoveryError(msg) from error
        delay_s = min(self.delay_s_first * 2 ** (self.failures - 1), self.delay_s_max)
        self.out(
            f"{self.what}: {describe(error)}; retrying in {delay_s:.1f} s "
            f"(attempt {self.failures} of {self.attempts_max})"
        )
        if stop is None:
            time.sleep(delay_s)
            return True
        return not stop.wait(delay_s)


def ride_out(
    work: Callable[[], None],
    backoff: Backoff,
    stop: threading.Event | None,
    *,
    store_url: str | None = None,
    passing: tuple[type[Exception], ...] = (),
    after_failure: Callable[[], None] | None = None,
) -> None:
    """Call `work` until it returns or `stop` is set, again after each transient failure.

    After a transient failure: `after_failure` (to close what the work had
    open), then `backoff.wait`, which raises `RecoveryError` at the attempt
    limit; a stop meanwhile ends the loop. With `store_url`, an attempt after
    a failure first asks `check_broker`. Any other error, and one of the
    `passing` types, is raised as it is.
    """
    while stop is None or not stop.is_set():
        try:
            if store_url is not None and backoff.failures:
                check_broker(store_url)
            work()
            return
        except passing:
            raise
        except Exception as error:
            if not transient(error):
                raise
            if after_failure is not None:
                after_failure()
            if not backoff.wait(error, stop):
                return
