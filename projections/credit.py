"""Credit analysis: exposure per customer, the review queue, and every credit decision.

`credit_exposure` has a row per customer with the figures of
`engine.credit.CreditAccount`: limit and terms, approved but not invoiced,
invoiced but unpaid, money on account, exposure (the first two together),
and the open invoices. The fold rebuilds the engine's own account from the
row and applies the event with the engine's own code, so the read model
cannot compute exposure differently from the engine that decides credit.
The row keeps what that needs: the approvals still to be invoiced and the
open invoices, oldest first (payments pay the oldest first), as JSON.

`credit_review_queue` has a row per order held for credit review (over the
limit within the tolerance, or the customer is overdue): customer, reason,
value, exposure before it, since when. `status` is `open` while it waits for
an analyst, then `approved`, `rejected`, `cancelled` or `expired`, with the
time it left the queue. A prepaid order waiting for its payment is not
reviewed by anyone and is not in the queue.

`credit_decisions` has a line per decision: `approved`, `held`, `rejected`
(the automatic policy) and `review_approved`, `review_rejected` (an
analyst), keyed by order and decision: an order is decided once by the
policy and at most once more by an analyst.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Final

import msgspec

from engine.credit import CreditAccount, Invoice
from engine.events import (
    CreditApproved,
    CreditHeld,
    CreditPayload,
    CreditRejected,
    CreditReviewDecided,
    InvoiceIssued,
    OrderCancelled,
    OrderExpired,
    StreamEvent,
)
from projections.projection import BIGINT, TEXT, Key, Positioned, Projection, Rows, Table, stamp

EXPOSURE: Final = "credit_exposure"
QUEUE: Final = "credit_review_queue"
DECISIONS: Final = "credit_decisions"

OPEN: Final = "open"

# An open invoice as the row keeps it: id, order, outstanding, due at, overdue.
_InvoiceRow = tuple[str, str, int, int, bool]
_approved_decoder: Final = msgspec.json.Decoder(dict[str, int])
_invoices_decoder: Final = msgspec.json.Decoder(list[_InvoiceRow])
_encoder: Final = msgspec.json.Encoder()

_DECISIONS: Final = (CreditApproved, CreditHeld, CreditRejected, CreditReviewDecided)
# Tuples, not unions: `isinstance` with `A | B` builds the union at every call.
_QUEUED: Final = (CreditHeld, CreditReviewDecided)
_UNQUEUED: Final = (OrderCancelled, OrderExpired)
_DECISION_KINDS: Final = frozenset(_DECISIONS)
_QUEUE_ENDINGS: Final[dict[type, str]] = {OrderCancelled: "cancelled", OrderExpired: "expired"}


def _account(row: dict[str, Any]) -> CreditAccount:
    account = CreditAccount(row["customer_id"])
    account.limit_cents = row["limit_cents"]
    account.payment_terms = row["payment_terms"]
    account.approved = _approved_decoder.decode(row["approved"])
    account.uninvoiced_cents = row["uninvoiced_cents"]
    account.unpaid_cents = row["unpaid_cents"]
    account.on_account_cents = row["on_account_cents"]
    for invoice_id, order_id, outstanding, due_at, overdue in _invoices_decoder.decode(
        row["invoices"]
    ):
        invoice = Invoice(
            InvoiceIssued(
                customer_id=account.customer_id,
                invoice_id=invoice_id,
                order_id=order_id,
                amount_cents=outstanding,
                due_at=due_at,
            )
        )
        invoice.overdue = overdue
        account.invoices[invoice_id] = invoice
    return account


def _store(account: CreditAccount, row: dict[str, Any]) -> None:
    invoices = account.invoices.values()
    row["limit_cents"] = account.limit_cents
    row["payment_terms"] = account.payment_terms
    row["uninvoiced_cents"] = account.uninvoiced_cents
    row["unpaid_cents"] = account.unpaid_cents
    row["on_account_cents"] = account.on_account_cents
    row["exposure_cents"] = account.exposure_cents
    row["open_invoices"] = len(account.invoices)
    row["overdue_invoices"] = sum(i.overdue for i in invoices)
    # An approval fully invoiced counts for nothing any more; the row drops it.
    approved = {order_id: cents for order_id, cents in account.approved.items() if cents}
    row["approved"] = _encoder.encode(approved).decode()
    row["invoices"] = _encoder.encode(
        [(i.invoice_id, i.order_id, i.outstanding_cents, i.due_at, i.overdue) for i in invoices]
    ).decode()


def _empty(customer_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {"customer_id": customer_id, "updated_at": ""}
    _store(CreditAccount(customer_id), row)
    return row


def _decision(event: StreamEvent, at: str) -> tuple[Any, ...]:
    data = event.data
    assert isinstance(data, _DECISIONS)
    decided_by = None
    if isinstance(data, CreditReviewDecided):
        decision = "review_approved" if data.approved else "review_rejected"
        reason, decided_by = data.why, data.decided_by
    elif isinstance(data, CreditApproved):
        decision, reason = "approved", None
    else:
        decision = "held" if isinstance(data, CreditHeld) else "rejected"
        reason = data.reason.value
    return (
        data.order_id,
        decision,
        data.customer_id,
        data.amount_cents,
        data.exposure_cents,
        reason,
        decided_by,
        at,
    )


class Credit(Projection):
    name: ClassVar[str] = "credit"
    reads: ClassVar[tuple[type, ...] | None] = (CreditPayload, OrderCancelled, OrderExpired)
    tables: ClassVar[tuple[Table, ...]] = (
        Table(
            EXPOSURE,
            (
                ("customer_id", TEXT),
                ("limit_cents", BIGINT),
                ("payment_terms", TEXT),
                ("uninvoiced_cents", BIGINT),
                ("unpaid_cents", BIGINT),
                ("on_account_cents", BIGINT),
                ("exposure_cents", BIGINT),
                ("open_invoices", BIGINT),
                ("overdue_invoices", BIGINT),
                ("approved", TEXT),
                ("invoices", TEXT),
                ("updated_at", TEXT),
            ),
            key=("customer_id",),
        ),
        Table(
            QUEUE,
            (
                ("order_id", TEXT),
                ("customer_id", TEXT),
                ("reason", TEXT),
                ("amount_cents", BIGINT),
                ("exposure_cents", BIGINT),
                ("since", TEXT),
                ("status", TEXT),
                ("resolved_at", TEXT),
            ),
            key=("order_id",),
            indexes=(("status", "since"),),
        ),
        Table(
            DECISIONS,
            (
                ("order_id", TEXT),
                ("decision", TEXT),
                ("customer_id", TEXT),
                ("amount_cents", BIGINT),
                ("exposure_cents", BIGINT),
                ("reason", TEXT),
                ("decided_by", TEXT),
                ("at", TEXT),
            ),
            key=("order_id", "decision"),
            indexes=(("customer_id",), ("at",)),
        ),
    )

    def keys(self, events: Sequence[Positioned]) -> Iterator[tuple[str, Key]]:
        for _, event in events:
            data = event.data
            if isinstance(data, CreditPayload):
                yield EXPOSURE, (data.customer_id,)
                if isinstance(data, _QUEUED):
                    yield QUEUE, (data.order_id,)
            elif isinstance(data, _UNQUEUED):
                yield QUEUE, (data.order_id,)

    def fold(self, rows: Rows, events: Sequence[Positioned]) -> None:
        # Each account is rebuilt once a batch and stored once at its end.
        accounts: dict[str, tuple[CreditAccount, dict[str, Any]]] = {}
        for _, event in events:
            data = event.data
            kind = type(data)
            at = stamp(event.timestamp)
            if kind in _QUEUE_ENDINGS:
                assert isinstance(data, _UNQUEUED)
                self._leave_queue(rows, data.order_id, _QUEUE_ENDINGS[kind], at)
                continue
            if not isinstance(data, CreditPayload):
                continue
            entry = accounts.get(data.customer_id)
            if entry is None:
                key = (data.customer_id,)
                row = rows.row(EXPOSURE, key) or rows.insert(EXPOSURE, key, _empty(*key))
                entry = accounts[data.customer_id] = (_account(row), row)
            account, row = entry
            account.apply(data)
            row["updated_at"] = at
            if kind in _DECISION_KINDS:
                rows.append(DECISIONS, _decision(event, at))
                if kind is CreditHeld:
                    assert isinstance(data, CreditHeld)
                    rows.insert(QUEUE, (data.order_id,), self._held(data, at))
                elif kind is CreditReviewDecided:
                    assert isinstance(data, CreditReviewDecided)
                    status = "approved" if data.approved else "rejected"
                    self._leave_queue(rows, data.order_id, status, at)
        for account, row in accounts.values():
            _store(account, row)

    @staticmethod
    def _held(data: CreditHeld, at: str) -> dict[str, Any]:
        return {
            "order_id": data.order_id,
            "customer_id": data.customer_id,
            "reason": data.reason.value,
            "amount_cents": data.amount_cents,
            "exposure_cents": data.exposure_cents,
            "since": at,
            "status": OPEN,
            "resolved_at": None,
        }

    @staticmethod
    def _leave_queue(rows: Rows, order_id: str, status: str, at: str) -> None:
        held = rows.peek(QUEUE, (order_id,))
        if held is None or held["status"] != OPEN:
            return
        held = rows.row(QUEUE, (order_id,))
        assert held is not None
        held["status"] = status
        held["resolved_at"] = at
