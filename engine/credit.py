"""The credit account aggregate (one per customer) and the credit decision.

Exposure is what the customer owes or will owe: orders approved but not yet
invoiced, plus invoices not yet paid. Payments and credit notes pay the
oldest open invoice first; what is left over stays on account and pays the
next invoices. All of it is folded from the account's own events, so a
restart, `history` and `verify` see the same numbers as the live engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.events import (
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


@dataclass(frozen=True)
class CreditPolicy:
    """`tolerance_percent`: how far over the limit an order goes to review, not rejection."""

    tolerance_percent: int = 10


class Invoice:
    __slots__ = ("due_at", "invoice_id", "order_id", "outstanding_cents", "overdue")

    def __init__(self, event: InvoiceIssued) -> None:
        self.invoice_id = event.invoice_id
        self.order_id = event.order_id
        self.outstanding_cents = event.amount_cents
        self.due_at = event.due_at
        self.overdue = False


class CreditAccount:
    __slots__ = (
        "approved",
        "customer_id",
        "invoices",
        "limit_cents",
        "on_account_cents",
        "payment_terms",
        "uninvoiced_cents",
        "unpaid_cents",
    )

    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id
        self.limit_cents = 0
        self.payment_terms = ""
        # order id -> approved amount not yet invoiced
        self.approved: dict[str, int] = {}
        self.uninvoiced_cents = 0
        self.invoices: dict[str, Invoice] = {}
        self.unpaid_cents = 0
        self.on_account_cents = 0

    @property
    def opened(self) -> bool:
        return bool(self.payment_terms)

    @property
    def exposure_cents(self) -> int:
        return self.uninvoiced_cents + self.unpaid_cents

    @property
    def overdue(self) -> bool:
        return any(i.overdue for i in self.invoices.values())

    @property
    def net_days(self) -> int:
        """N of net-N terms (0 for prepaid)."""
        return int(self.payment_terms[4:]) if self.payment_terms.startswith("net-") else 0

    def decide(
        self, order_id: str, amount_cents: int, policy: CreditPolicy
    ) -> CreditApproved | CreditHeld | CreditRejected:
        exposure = self.exposure_cents
        after = exposure + amount_cents
        if after > self.limit_cents * (100 + policy.tolerance_percent) // 100:
            return CreditRejected(
                customer_id=self.customer_id,
                order_id=order_id,
                amount_cents=amount_cents,
                exposure_cents=exposure,
                limit_cents=self.limit_cents,
                reason=CreditRejectionReason.OVER_LIMIT,
            )
        if self.overdue or after > self.limit_cents:
            reason = HoldReason.OVERDUE if self.overdue else HoldReason.TOLERANCE_BAND
            return CreditHeld(
                customer_id=self.customer_id,
                order_id=order_id,
                amount_cents=amount_cents,
                exposure_cents=exposure,
                reason=reason,
            )
        return CreditApproved(
            customer_id=self.customer_id,
            order_id=order_id,
            amount_cents=amount_cents,
            exposure_cents=after,
        )

    def apply(self, event: CreditEvent) -> None:
        kind = type(event)
        if kind is CreditApproved:
            assert isinstance(event, CreditApproved)
            self._approve(event.order_id, event.amount_cents)
        elif kind is CreditReviewDecided:
            assert isinstance(event, CreditReviewDecided)
            if event.approved:
                self._approve(event.order_id, event.amount_cents)
        elif kind is InvoiceIssued:
            assert isinstance(event, InvoiceIssued)
            self._invoice(event)
        elif kind is PaymentRecorded:
            assert isinstance(event, PaymentRecorded)
            self._pay(event.amount_cents)
        elif kind is CreditNoteIssued:
            assert isinstance(event, CreditNoteIssued)
            self._pay(event.amount_cents)
        elif kind is CreditReleased:
            assert isinstance(event, CreditReleased)
            self.uninvoiced_cents -= self.approved.pop(event.order_id, 0)
        elif kind is InvoiceOverdue:
            assert isinstance(event, InvoiceOverdue)
            self.invoices[event.invoice_id].overdue = True
        elif kind is CreditLimitSet:
            assert isinstance(event, CreditLimitSet)
            self.limit_cents = event.limit_cents
            self.payment_terms = event.payment_terms
        elif kind not in (CreditHeld, CreditRejected, CreditCommandRejected):
            msg = f"customer {self.customer_id}: {kind.__name__} does not apply to an account"
            raise TypeError(msg)

    def _approve(self, order_id: str, amount_cents: int) -> None:
        self.approved[order_id] = amount_cents
        self.uninvoiced_cents += amount_cents

    def _invoice(self, event: InvoiceIssued) -> None:
        # What was approved moves from "to be invoiced" to "unpaid", capped at
        # the approval so a price rounding cannot make exposure negative.
        approved = self.approved.get(event.order_id, 0)
        moved = min(approved, event.amount_cents)
        if event.order_id in self.approved:
            self.approved[event.order_id] = approved - moved
        self.uninvoiced_cents -= moved
        invoice = Invoice(event)
        self.invoices[event.invoice_id] = invoice
        self.unpaid_cents += invoice.outstanding_cents
        if self.on_account_cents:
            self._pay(0)

    def _pay(self, amount_cents: int) -> None:
        """Oldest open invoice first; the rest stays on account."""
        money = self.on_account_cents + amount_cents
        for invoice_id in list(self.invoices):
            if not money:
                break
            invoice = self.invoices[invoice_id]
            paid = min(money, invoice.outstanding_cents)
            invoice.outstanding_cents -= paid
            self.unpaid_cents -= paid
            money -= paid
            if not invoice.outstanding_cents:
                del self.invoices[invoice_id]
        self.on_account_cents = money

    def due_invoices(self, now: int) -> list[Invoice]:
        """Open invoices past their due time and not yet flagged overdue."""
        return [i for i in self.invoices.values() if not i.overdue and i.due_at < now]
