"""Credit review: an automatic policy decides the orders held for review it is sure of.

It reads the engine's `CreditHeld` events, not the review queue read model.
The event carries everything the policy weighs (the order's value, why it
was held: over the limit within the tolerance band, or the customer has an
overdue invoice, which the engine checks first), at the point in the store
where the order was held, so each held order is decided exactly once, in
order, with a checkpoint and dead letters like every consumer. The queue read
model shows an order `open` until the decision's event has been projected:
a consumer polling it would decide the same orders again and again.

Policy `AUTO-REVIEW-1` (`ReviewPolicy`), for an order held for review:

1. approve it when it was held in the tolerance band (so its customer had no
   overdue invoice) and its value is at most `approve_max_cents`;
2. reject it when its value is over `reject_above_cents`, whatever the reason;
3. leave every other order (overdue customers, mid-sized orders) in the
   analysts' queue.

A prepaid order waiting for its payment is not reviewed by anyone. Each
decision is a `DecideCreditReview` with command id `review-<order id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from consumers.consumer import Consumer, Effects
from consumers.sink import command_id
from engine.commands import DecideCreditReview
from engine.events import CreditHeld, HoldReason, StreamEvent
from projections.db import Database

__all__ = ["POLICY_NAME", "CreditReview", "ReviewPolicy"]

POLICY_NAME: Final = "AUTO-REVIEW-1"
APPROVE_MAX_CENTS: Final = 100_000
REJECT_ABOVE_CENTS: Final = 1_000_000


@dataclass(frozen=True)
class ReviewPolicy:
    """`AUTO-REVIEW-1`: see the module docstring. Money in cents."""

    approve_max_cents: int = APPROVE_MAX_CENTS
    reject_above_cents: int = REJECT_ABOVE_CENTS

    def __post_init__(self) -> None:
        if not 0 <= self.approve_max_cents <= self.reject_above_cents:
            msg = (
                "the policy needs 0 <= approve_max_cents <= reject_above_cents, got "
                f"{self.approve_max_cents} and {self.reject_above_cents}"
            )
            raise ValueError(msg)

    def decide(self, held: CreditHeld) -> tuple[bool, str] | None:
        """(approve, why), or None to leave the order to an analyst."""
        if held.reason is HoldReason.AWAITING_PAYMENT:
            return None
        value = held.amount_cents
        if value > self.reject_above_cents:
            return False, f"{POLICY_NAME}: value {value} cents over {self.reject_above_cents}"
        if held.reason is HoldReason.TOLERANCE_BAND and value <= self.approve_max_cents:
            return True, (
                f"{POLICY_NAME}: within the tolerance band, no overdue invoice, "
                f"value {value} cents at most {self.approve_max_cents}"
            )
        return None


class CreditReview(Consumer):
    name: ClassVar[str] = "credit-review"

    def __init__(self, policy: ReviewPolicy | None = None) -> None:
        self.policy = policy or ReviewPolicy()

    def handle(self, db: Database, event: StreamEvent) -> Effects:
        held = event.data
        if not isinstance(held, CreditHeld):
            return Effects()
        decided = self.policy.decide(held)
        if decided is None:
            return Effects(lines=[f"left to the analysts: {held.order_id} ({held.reason.value})"])
        approve, why = decided
        command = DecideCreditReview(
            command_id=command_id("review", held.order_id),
            order_id=held.order_id,
            approve=approve,
            decided_by=f"policy:{POLICY_NAME}",
            why=why,
        )
        verdict = "approve" if approve else "reject"
        return Effects(commands=[command], lines=[f"{verdict} {held.order_id}: {why}"])
