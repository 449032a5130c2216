"""The credit account on its own: the decision at its edges, and the money it folds."""

from __future__ import annotations

import pytest

from engine.credit import CreditAccount, CreditPolicy
from engine.events import (
    CommandReason,
    CreditApproved,
    CreditCommandRejected,
    CreditEvent,
    CreditHeld,
    CreditLimitSet,
    CreditNoteIssued,
    CreditRejected,
    CreditRejectionReason,
    CreditReleased,
    CreditReviewDecided,
    HoldReason,
    InvoiceIssued,
    InvoiceOverdue,
    PaymentRecorded,
)

POLICY = CreditPolicy()


def account(*events: CreditEvent, limit_cents: int = 10_000) -> CreditAccount:
    acc = CreditAccount("cu")
    acc.apply(CreditLimitSet(customer_id="cu", limit_cents=limit_cents, payment_terms="net-30"))
    for event in events:
        acc.apply(event)
    return acc


def approved(order_id: str, amount_cents: int) -> CreditApproved:
    return CreditApproved(
        customer_id="cu", order_id=order_id, amount_cents=amount_cents, exposure_cents=0
    )


def invoice(invoice_id: str, order_id: str, amount_cents: int, due_at: int = 100) -> InvoiceIssued:
    return InvoiceIssued(
        customer_id="cu",
        invoice_id=invoice_id,
        order_id=order_id,
        amount_cents=amount_cents,
        due_at=due_at,
    )


def payment(amount_cents: int) -> PaymentRecorded:
    return PaymentRecorded(customer_id="cu", payment_id="pm", amount_cents=amount_cents)


def outstanding(acc: CreditAccount) -> dict[str, int]:
    return {i: v.outstanding_cents for i, v in acc.invoices.items()}


# ---------------------------------------------------------------- the decision


def test_exposure_plus_order_equal_to_the_limit_is_approved() -> None:
    acc = account(approved("o1", 4_000))

    assert acc.decide("o2", 6_000, POLICY) == CreditApproved(
        customer_id="cu", order_id="o2", amount_cents=6_000, exposure_cents=10_000
    )


def test_one_cent_over_the_limit_is_held_for_review() -> None:
    acc = account(approved("o1", 4_000))

    assert acc.decide("o2", 6_001, POLICY) == CreditHeld(
        customer_id="cu",
        order_id="o2",
        amount_cents=6_001,
        exposure_cents=4_000,
        reason=HoldReason.TOLERANCE_BAND,
    )


def test_the_top_of_the_band_is_held_and_one_cent_more_rejected() -> None:
    acc = account(approved("o1", 4_000))

    assert isinstance(acc.decide("o2", 7_000, POLICY), CreditHeld)
    assert acc.decide("o2", 7_001, POLICY) == CreditRejected(
        customer_id="cu",
        order_id="o2",
        amount_cents=7_001,
        exposure_cents=4_000,
        limit_cents=10_000,
        reason=CreditRejectionReason.OVER_LIMIT,
    )


def test_the_band_rounds_down_to_whole_cents() -> None:
    acc = account(limit_cents=10_005)

    assert isinstance(acc.decide("o1", 11_005, POLICY), CreditHeld)
    assert isinstance(acc.decide("o1", 11_006, POLICY), CreditRejected)


def test_no_tolerance_rejects_anything_over_the_limit() -> None:
    acc = account()

    assert isinstance(acc.decide("o1", 10_000, CreditPolicy(0)), CreditApproved)
    assert isinstance(acc.decide("o1", 10_001, CreditPolicy(0)), CreditRejected)


def test_an_overdue_invoice_holds_even_a_small_order() -> None:
    acc = account(
        approved("o1", 100),
        invoice("i1", "o1", 100),
        InvoiceOverdue(customer_id="cu", invoice_id="i1", outstanding_cents=100, due_at=100),
    )

    assert acc.decide("o2", 1, POLICY) == CreditHeld(
        customer_id="cu",
        order_id="o2",
        amount_cents=1,
        exposure_cents=100,
        reason=HoldReason.OVERDUE,
    )
    assert isinstance(acc.decide("o2", 10_901, POLICY), CreditRejected)


def test_deciding_changes_nothing() -> None:
    acc = account(approved("o1", 4_000))

    acc.decide("o2", 1_000, POLICY)

    assert (acc.exposure_cents, acc.approved) == (4_000, {"o1": 4_000})


# ---------------------------------------------------------------- folding


def test_a_new_account_is_closed_until_a_limit_is_set() -> None:
    acc = CreditAccount("cu")
    assert (acc.opened, acc.limit_cents, acc.exposure_cents) == (False, 0, 0)

    acc.apply(CreditLimitSet(customer_id="cu", limit_cents=500, payment_terms="net-45"))

    assert (acc.opened, acc.limit_cents, acc.net_days) == (True, 500, 45)


def test_prepaid_terms_have_no_net_days() -> None:
    acc = CreditAccount("cu")
    acc.apply(CreditLimitSet(customer_id="cu", limit_cents=0, payment_terms="prepaid"))

    assert (acc.opened, acc.net_days) == (True, 0)


def test_approval_counts_until_invoiced_and_invoicing_moves_it_to_unpaid() -> None:
    acc = account(approved("o1", 500))
    assert (acc.uninvoiced_cents, acc.unpaid_cents, acc.exposure_cents) == (500, 0, 500)

    acc.apply(invoice("i1", "o1", 300))
    assert (acc.uninvoiced_cents, acc.unpaid_cents, acc.exposure_cents) == (200, 300, 500)
    assert acc.approved == {"o1": 200}

    acc.apply(invoice("i2", "o1", 200))
    assert (acc.uninvoiced_cents, acc.unpaid_cents) == (0, 500)


def test_an_invoice_above_its_approval_moves_only_the_approval() -> None:
    acc = account(approved("o1", 500), invoice("i1", "o1", 600))

    assert (acc.uninvoiced_cents, acc.unpaid_cents) == (0, 600)


def test_an_invoice_without_an_approval_is_unpaid_only() -> None:
    acc = account(invoice("i1", "prepaid-order", 300))

    assert (acc.uninvoiced_cents, acc.unpaid_cents, acc.approved) == (0, 300, {})


def test_review_decisions_count_only_when_approved() -> None:
    def decided(approve: bool) -> CreditReviewDecided:
        return CreditReviewDecided(
            customer_id="cu",
            order_id="o1",
            approved=approve,
            decided_by="ana",
            why="ok",
            amount_cents=700,
            exposure_cents=0,
        )

    assert account(decided(False)).exposure_cents == 0
    assert account(decided(True)).approved == {"o1": 700}
    assert account(decided(True)).exposure_cents == 700


def test_holds_rejections_and_rejected_commands_change_nothing() -> None:
    acc = account(
        CreditHeld(
            customer_id="cu",
            order_id="o1",
            amount_cents=10,
            exposure_cents=0,
            reason=HoldReason.TOLERANCE_BAND,
        ),
        CreditRejected(
            customer_id="cu",
            order_id="o2",
            amount_cents=10,
            exposure_cents=0,
            limit_cents=0,
            reason=CreditRejectionReason.OVER_LIMIT,
        ),
        CreditCommandRejected(
            customer_id="cu",
            command_id="c1",
            command="RecordPayment",
            reason=CommandReason.UNKNOWN_CUSTOMER,
            detail="x",
        ),
    )

    assert (acc.exposure_cents, acc.approved, acc.invoices) == (0, {}, {})


def test_release_drops_what_is_left_of_an_approval() -> None:
    acc = account(approved("o1", 500), approved("o2", 300), invoice("i1", "o1", 200))

    acc.apply(CreditReleased(customer_id="cu", order_id="o1", amount_cents=300))
    assert (acc.uninvoiced_cents, acc.unpaid_cents, acc.approved) == (300, 200, {"o2": 300})

    acc.apply(CreditReleased(customer_id="cu", order_id="nope", amount_cents=300))
    assert acc.uninvoiced_cents == 300


def test_payment_pays_the_oldest_invoice_first() -> None:
    acc = account(invoice("i1", "o1", 300), invoice("i2", "o2", 200), invoice("i3", "o3", 100))

    acc.apply(payment(350))

    assert outstanding(acc) == {"i2": 150, "i3": 100}
    assert (acc.unpaid_cents, acc.on_account_cents) == (250, 0)


def test_money_beyond_the_invoices_stays_on_account_and_pays_the_next_invoice() -> None:
    acc = account(invoice("i1", "o1", 300), payment(500))
    assert (acc.invoices, acc.unpaid_cents, acc.on_account_cents) == ({}, 0, 200)

    acc.apply(invoice("i2", "o2", 150))
    assert (acc.invoices, acc.unpaid_cents, acc.on_account_cents) == ({}, 0, 50)

    acc.apply(invoice("i3", "o3", 80))
    assert (outstanding(acc), acc.unpaid_cents, acc.on_account_cents) == ({"i3": 30}, 30, 0)


def test_a_credit_note_pays_like_a_payment() -> None:
    acc = account(invoice("i1", "o1", 300), invoice("i2", "o1", 300))

    acc.apply(CreditNoteIssued(customer_id="cu", order_id="o1", return_id="r1", amount_cents=400))

    assert outstanding(acc) == {"i2": 200}
    assert acc.exposure_cents == 200


def test_overdue_is_flagged_per_invoice_and_cleared_by_paying_it() -> None:
    acc = account(invoice("i1", "o1", 300, due_at=100), invoice("i2", "o2", 200, due_at=200))

    assert acc.due_invoices(100) == []
    assert [i.invoice_id for i in acc.due_invoices(101)] == ["i1"]
    assert [i.invoice_id for i in acc.due_invoices(201)] == ["i1", "i2"]

    acc.apply(InvoiceOverdue(customer_id="cu", invoice_id="i1", outstanding_cents=300, due_at=100))
    assert acc.overdue
    assert [i.invoice_id for i in acc.due_invoices(201)] == ["i2"]

    acc.apply(payment(299))
    assert acc.overdue
    acc.apply(payment(1))
    assert not acc.overdue
    assert outstanding(acc) == {"i2": 200}


def test_an_event_that_is_not_about_credit_is_refused() -> None:
    acc = account()

    with pytest.raises(TypeError, match="customer cu: str does not apply to an account"):
        acc.apply("CreditApproved")  # type: ignore[arg-type]
