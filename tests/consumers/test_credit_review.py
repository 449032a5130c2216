"""Credit review against a real server: the policy decides what it is sure of, the rest waits."""

from __future__ import annotations

from consumers.credit_review import POLICY_NAME, CreditReview, ReviewPolicy
from engine.events import CreditReviewDecided
from projections.credit import Credit
from projections.queries import review_queue
from projections.runner import catch_up
from tests.consumers.conftest import Served, credit, kinds, place, slot

# Approve held orders up to 600.00, reject those over 2,000.00.
POLICY = ReviewPolicy(approve_max_cents=60_000, reject_above_cents=200_000)


def _held(served: Served) -> None:
    """Each order over its customer's limit within the 10 % band: held for review."""
    answers = served.post(
        [
            *slot("sku-1", 10_000),
            credit("small", 50_000),
            credit("mid", 100_000),
            credit("big", 300_000),
            place("o-small", "small", "sku-1", 520),  # 520.00: approve
            place("o-mid", "mid", "sku-1", 1_050),  # 1,050.00: left to the analysts
            place("o-big", "big", "sku-1", 3_100),  # 3,100.00: reject
        ]
    )
    assert all("CreditHeld" in kinds(a) for a in answers[-3:])


def _decisions(served: Served) -> dict[str, bool]:
    decided = [e.data for e in served.events() if isinstance(e.data, CreditReviewDecided)]
    by_order = {d.order_id: d.approved for d in decided}
    assert len(by_order) == len(decided), "an order was decided twice"
    assert all(d.decided_by == f"policy:{POLICY_NAME}" for d in decided)
    return by_order


def test_held_orders_are_decided_by_the_policy_and_the_rest_stay_queued(served: Served) -> None:
    _held(served)
    catch_up(served.db, served.recorder, [Credit()])
    assert {item.order_id for item in review_queue(served.db)} == {"o-small", "o-mid", "o-big"}

    lines: list[str] = []
    served.runner(CreditReview(POLICY), lines).catch_up()

    assert _decisions(served) == {"o-small": True, "o-big": False}
    catch_up(served.db, served.recorder, [Credit()])
    assert [item.order_id for item in review_queue(served.db)] == ["o-mid"]
    assert {item.order_id: item.status for item in review_queue(served.db, status=None)} == {
        "o-small": "approved",
        "o-mid": "open",
        "o-big": "rejected",
    }
    assert any(line.startswith("left to the analysts: o-mid") for line in lines)


def test_a_restart_resumes_from_the_checkpoint_and_decides_nothing_twice(served: Served) -> None:
    _held(served)
    served.runner(CreditReview(POLICY)).catch_up()
    served.post([credit("late", 50_000), place("o-late", "late", "sku-1", 510)])

    restarted = served.runner(CreditReview(POLICY))
    before = restarted.checkpoint
    assert before > 0
    restarted.catch_up()
    assert _decisions(served) == {"o-small": True, "o-big": False, "o-late": True}

    # A crash after sending but before the checkpoint moved: the same decisions
    # again are answered as retries, and the store gains no event from them.
    with served.db.transaction():
        restarted.checkpoints.delete(restarted.checkpoint_name)
    head = served.recorder.max_notification_id()
    served.runner(CreditReview(POLICY)).catch_up()
    assert served.recorder.max_notification_id() == head
    assert _decisions(served) == {"o-small": True, "o-big": False, "o-late": True}
