from __future__ import annotations

from engine.schedule import Schedule


def test_items_come_by_due_time_then_as_added_and_at_most_as_many_as_asked() -> None:
    schedule: Schedule[str] = Schedule()
    for at, name in [(20, "a"), (10, "b"), (20, "c"), (10, "d"), (30, "e"), (10, "f")]:
        schedule.add(at, name)

    assert len(schedule) == 6
    assert not schedule.any_due(9)
    assert schedule.take(9, 10) == []
    assert schedule.take(20, 2) == ["b", "d"]
    assert schedule.any_due(20)
    assert schedule.first_at() == 10
    assert schedule.take(20, 2) == ["f", "a"]
    assert list(schedule) == [(20, "c"), (30, "e")]
    assert schedule.take(25, 10) == ["c"]
    assert not schedule.any_due(25)
    assert schedule
    assert schedule.first_at() == 30
    assert schedule.take(30, 10) == ["e"]
    assert not schedule
    assert len(schedule) == 0


def test_without_a_limit_everything_due_is_taken_and_nothing_later() -> None:
    schedule: Schedule[int] = Schedule()
    for at in [5, 3, 9, 3, 7, 5]:
        schedule.add(at, at * 10)

    assert schedule.take(6) == [30, 30, 50, 50]
    assert schedule.first_at() == 7
    assert list(schedule) == [(7, 70), (9, 90)]
    schedule.add(1, 10)
    assert schedule.take(100) == [10, 70, 90]
    assert not schedule
