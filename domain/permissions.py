"""The collaborator center: permissions, presets and the actor on every command.

An actor acts for exactly one account (the producer's tenant) and holds a set of
permissions; the presets mirror the platform's collaborator profiles (DESIGN.md §3).
The `checkout` preset is the host platform itself: its checkout and its gateway
callbacks record sales and payment outcomes on the producer's behalf.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from payledger.domain.errors import Forbidden, ValidationError


class Permission(StrEnum):
    # the platform's own checkout and gateway callbacks
    SELL = "sell"
    RECORD_PAYMENTS = "record_payments"
    RECORD_PARTNER_ACTIONS = "record_partner_actions"  # coproducers' and affiliates' answers
    # support
    SEARCH_PURCHASES = "search_purchases"
    SALES_BY_PERIOD = "sales_by_period"
    RESEND_PURCHASE_EMAILS = "resend_purchase_emails"
    ISSUE_SALES_INVOICES = "issue_sales_invoices"
    REQUEST_REFUNDS = "request_refunds"
    CHANGE_BUYER_EMAIL = "change_buyer_email"
    MANAGE_SUBSCRIPTIONS = "manage_subscriptions"
    VIEW_PRODUCTS = "view_products"
    PURCHASE_RECOVERY_REPORT = "purchase_recovery_report"
    # technical
    CHECKOUT_SETTINGS = "checkout_settings"
    SALES_FUNNEL = "sales_funnel"
    API_AND_NOTIFICATIONS = "api_and_notifications"
    SALES_BY_ORIGIN_REPORTS = "sales_by_origin_reports"
    # financial
    SEND_RECEIPTS = "send_receipts"
    WITHDRAW = "withdraw"
    FINANCIAL_REPORTS = "financial_reports"
    AFFILIATE_PAYMENTS = "affiliate_payments"
    # affiliate manager
    APPROVE_AFFILIATES = "approve_affiliates"
    AFFILIATE_REPORTS = "affiliate_reports"
    # owner only
    MANAGE_REFUNDS = "manage_refunds"
    CHANGE_BANK_ACCOUNT = "change_bank_account"
    ADJUST_BALANCES = "adjust_balances"
    MANAGE_PRODUCTS = "manage_products"  # products, coproductions, affiliate commission
    MANAGE_COUPONS = "manage_coupons"


P = Permission

PRESETS: dict[str, frozenset[Permission]] = {
    "owner": frozenset(Permission),
    "support": frozenset({
        P.SEARCH_PURCHASES, P.SALES_BY_PERIOD, P.RESEND_PURCHASE_EMAILS,
        P.ISSUE_SALES_INVOICES, P.REQUEST_REFUNDS, P.CHANGE_BUYER_EMAIL,
        P.MANAGE_SUBSCRIPTIONS, P.VIEW_PRODUCTS, P.PURCHASE_RECOVERY_REPORT,
    }),
    "technical": frozenset({
        P.CHECKOUT_SETTINGS, P.SALES_FUNNEL, P.API_AND_NOTIFICATIONS,
        P.SALES_BY_ORIGIN_REPORTS,
    }),
    "financial": frozenset({
        P.SEND_RECEIPTS, P.WITHDRAW, P.FINANCIAL_REPORTS, P.AFFILIATE_PAYMENTS,
        P.ADJUST_BALANCES,
    }),
    "affiliate_manager": frozenset({P.APPROVE_AFFILIATES, P.AFFILIATE_REPORTS}),
    "checkout": frozenset({P.SELL, P.RECORD_PAYMENTS, P.REQUEST_REFUNDS,
                           P.RECORD_PARTNER_ACTIONS}),
}

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Actor(BaseModel):
    """Who issues a command, for which account, with which permissions."""

    model_config = ConfigDict(frozen=True)

    id: Name
    account: Name
    permissions: frozenset[Permission] = Field(default_factory=frozenset)

    @classmethod
    def preset(cls, preset: str, *, id: str, account: str) -> Actor:
        try:
            permissions = PRESETS[preset]
        except KeyError:
            known = ", ".join(sorted(PRESETS))
            raise ValidationError("preset", f"unknown preset {preset!r} ({known})") from None
        return cls(id=id, account=account, permissions=permissions)

    def require(self, permission: Permission, action: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(self.id, action, f"needs permission {permission.value!r}")

    def require_account(self, account: str, action: str) -> None:
        if account != self.account:
            raise Forbidden(self.id, action, f"acts for account {self.account!r} only")
