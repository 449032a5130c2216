"""The store contract: what the engine relies on from any backend.

Written once; each backend's test module subclasses `StoreContract` and
provides a `backend` fixture. eventsourcing's conformance cases prove the
recorder interfaces; these prove what the engine adds on top of them.
"""

from __future__ import annotations

import abc
import uuid

import pytest
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)


class Backend(abc.ABC):
    """One store under test; `open` may be called again to reopen it."""

    @abc.abstractmethod
    def open(self) -> ProcessRecorder: ...

    @abc.abstractmethod
    def events_per_commit_max(self) -> int: ...


def event(stream: str, version: int, topic: str = "stock:StockReceived") -> StoredEvent:
    return StoredEvent(stream, version, topic, f"{stream}/{version}".encode())


def stream(
    recorder: ProcessRecorder, stream_id: str, **kwargs: int | bool
) -> list[tuple[str | uuid.UUID, int]]:
    return [
        (e.originator_id, e.originator_version)
        for e in recorder.select_events(stream_id, **kwargs)  # type: ignore[arg-type]
    ]


def all_notifications(recorder: ProcessRecorder) -> list[tuple[int, str, int]]:
    return [
        (n.id, str(n.originator_id), n.originator_version)
        for n in recorder.select_notifications(start=None, limit=1_000_000)
    ]


class StoreContract:
    @pytest.fixture
    def recorder(self, backend: Backend) -> ProcessRecorder:
        return backend.open()

    def test_positions_are_contiguous_and_returned(self, recorder: ProcessRecorder) -> None:
        first = recorder.insert_events([event("sku-a@w1", 1), event("sku-b@w1", 1)])
        second = recorder.insert_events([event("sku-a@w1", 2)])
        assert first == [1, 2]
        assert second == [3]
        assert all_notifications(recorder) == [
            (1, "sku-a@w1", 1),
            (2, "sku-b@w1", 1),
            (3, "sku-a@w1", 2),
        ]
        assert recorder.max_notification_id() == 3

    def test_a_clash_anywhere_in_a_commit_writes_nothing_of_it(
        self, recorder: ProcessRecorder
    ) -> None:
        recorder.insert_events([event("order-1", 1), event("order-1", 2)])
        before = all_notifications(recorder)
        with pytest.raises(IntegrityError, match="order-1"):
            recorder.insert_events([event("order-2", 1), event("order-1", 2), event("order-3", 1)])
        assert all_notifications(recorder) == before
        assert stream(recorder, "order-2") == []
        # The streams the failed commit touched are still free to write.
        assert recorder.insert_events([event("order-2", 1), event("order-1", 3)]) == [3, 4]

    def test_a_version_below_the_head_is_a_clash_even_in_a_gap(
        self, recorder: ProcessRecorder
    ) -> None:
        recorder.insert_events([event("order-1", 1), event("order-1", 5)])
        with pytest.raises(IntegrityError):
            recorder.insert_events([event("order-1", 3)])

    def test_a_repeated_version_inside_one_commit_is_a_clash(
        self, recorder: ProcessRecorder
    ) -> None:
        with pytest.raises(IntegrityError):
            recorder.insert_events([event("order-1", 1), event("order-1", 1)])
        assert all_notifications(recorder) == []

    def test_stream_reads_cross_commits(self, recorder: ProcessRecorder) -> None:
        for version in range(1, 6):
            recorder.insert_events([event("order-9", version), event(f"order-{version}", 1)])
        assert [v for _, v in stream(recorder, "order-9")] == [1, 2, 3, 4, 5]
        assert [v for _, v in stream(recorder, "order-9", gt=2, lte=4)] == [3, 4]
        assert [v for _, v in stream(recorder, "order-9", desc=True, limit=2)] == [5, 4]
        assert [v for _, v in stream(recorder, "order-9", lte=3, desc=True, limit=1)] == [3]

    def test_uuid_and_text_stream_ids_round_trip(self, recorder: ProcessRecorder) -> None:
        uid = uuid.uuid4()
        recorder.insert_events([StoredEvent(uid, 1, "t", b"x"), event("customer-7", 1)])
        ids = [n.originator_id for n in recorder.select_notifications(None, 10)]
        assert ids == [uid, "customer-7"]
        assert recorder.select_events(uid)[0].originator_id == uid

    def test_topic_filter_pages_across_commits(self, recorder: ProcessRecorder) -> None:
        for i in range(1, 11):
            topic = "stock:StockReserved" if i % 3 == 0 else "stock:StockReceived"
            recorder.insert_events([event(f"sku-{i}@w1", 1, topic)])
        reserved = recorder.select_notifications(None, 2, topics=["stock:StockReserved"])
        assert [n.id for n in reserved] == [3, 6]
        rest = recorder.select_notifications(7, 10, topics=["stock:StockReserved"])
        assert [n.id for n in rest] == [9]

    def test_tracking_clash_rolls_back_the_events(self, recorder: ProcessRecorder) -> None:
        recorder.insert_events([event("order-1", 1)], tracking=Tracking("upstream", 5))
        with pytest.raises(IntegrityError):
            recorder.insert_events([event("order-2", 1)], tracking=Tracking("upstream", 5))
        assert stream(recorder, "order-2") == []
        assert recorder.max_tracking_id("upstream") == 5

    def test_a_commit_over_the_limit_is_refused_whole(
        self, recorder: ProcessRecorder, backend: Backend
    ) -> None:
        too_many = backend.events_per_commit_max() + 1
        with pytest.raises(DataError, match="at most"):
            recorder.insert_events([event(f"order-{i}", 1) for i in range(too_many)])
        assert recorder.max_notification_id() is None

    def test_reopened_store_keeps_everything_and_its_heads(self, backend: Backend) -> None:
        backend.open().insert_events([event("order-1", 1), event("order-1", 2)])
        reopened = backend.open()
        assert stream(reopened, "order-1") == [("order-1", 1), ("order-1", 2)]
        with pytest.raises(IntegrityError):
            reopened.insert_events([event("order-1", 2)])
        assert reopened.insert_events([event("order-1", 3)]) == [3]

    def test_a_second_writer_sees_the_first_writers_heads(self, backend: Backend) -> None:
        first, second = backend.open(), backend.open()
        second.insert_events([event("order-0", 1)])
        first.insert_events([event("order-1", 1)])
        with pytest.raises(IntegrityError):
            second.insert_events([event("order-1", 1)])
        assert second.insert_events([event("order-1", 2)]) == [3]
