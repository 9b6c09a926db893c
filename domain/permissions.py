"""Principals and permissions: who may run which command, for which account.

Two kinds of principal, never mixed (DESIGN.md §3). *Account principals* are an
account's owner and collaborators (`Actor.preset`): they act for their own account
only and hold account permissions alone; `owner` holds every one. *Platform
principals* (`Actor.platform`) are the host's own services and staff, each role with
its own permissions: the checkout sells and carries the buyer's own requests, the
gateway reports payments, operators adjust balances and run the platform's own, the
scheduler runs the timed steps and the settlement the balance policy. payledger
authorizes; it never authenticates: the host decides who may hold which principal.

A command declares which kinds may run it and the permission each kind needs
(`Command.allowed`); docs/permissions.md is generated from those declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from payledger.domain.errors import Forbidden, ValidationError


class Kind(StrEnum):
    """A principal's kind, stored with every event it causes (`legacy` reads events
    stored before kinds were recorded)."""

    ACCOUNT = "account"
    PLATFORM = "platform"


class Permission(StrEnum):
    # -- an account's (the collaborator center's profiles) --------------------------
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
    # the owner's alone
    MANAGE_REFUNDS = "manage_refunds"
    CHANGE_BANK_ACCOUNT = "change_bank_account"
    MANAGE_PRODUCTS = "manage_products"  # products, coproductions, affiliate commission
    MANAGE_COUPONS = "manage_coupons"
    ANSWER_PARTNERSHIPS = "answer_partnerships"  # as a coproducer or an affiliate
    MANAGE_COLLABORATORS = "manage_collaborators"
    # -- the platform's (never an account principal's) ------------------------------
    SELL = "sell"
    RECORD_PAYMENTS = "record_payments"
    RECORD_PARTNER_ACTIONS = "record_partner_actions"  # a partner's answer, with consent
    ADJUST_BALANCES = "adjust_balances"
    MANAGE_PLATFORM_BALANCES = "manage_platform_balances"
    RUN_TIMED_STEPS = "run_timed_steps"
    REGISTER_ACCOUNTS = "register_accounts"
    OPERATE = "operate"  # operations: dead letters, store resets


P = Permission

PLATFORM_PERMISSIONS: frozenset[Permission] = frozenset({
    P.SELL, P.RECORD_PAYMENTS, P.RECORD_PARTNER_ACTIONS, P.ADJUST_BALANCES,
    P.MANAGE_PLATFORM_BALANCES, P.RUN_TIMED_STEPS, P.REGISTER_ACCOUNTS, P.OPERATE,
})
ACCOUNT_PERMISSIONS: frozenset[Permission] = frozenset(Permission) - PLATFORM_PERMISSIONS
OWNER_ONLY: frozenset[Permission] = frozenset({P.CHANGE_BANK_ACCOUNT, P.MANAGE_COLLABORATORS})
"""No collaborator profile, preset or custom, grants these."""

PRESETS: Mapping[str, frozenset[Permission]] = MappingProxyType({
    "owner": ACCOUNT_PERMISSIONS,
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
    }),
    "affiliate_manager": frozenset({P.APPROVE_AFFILIATES, P.AFFILIATE_REPORTS}),
})
"""An account's collaborator profiles."""

PLATFORM_ROLES: Mapping[str, frozenset[Permission]] = MappingProxyType({
    # sells, records charge requests, and carries the buyer's own requests
    "checkout": frozenset({P.SELL, P.REQUEST_REFUNDS, P.MANAGE_SUBSCRIPTIONS,
                           P.CHANGE_BUYER_EMAIL}),
    # approvals, declines, Pix and boleto payments, chargebacks, transfer outcomes
    "gateway": frozenset({P.RECORD_PAYMENTS}),
    # platform staff: onboarding, adjustments, the platform's balances, a partner's
    # recorded consent
    "operator": frozenset({P.REGISTER_ACCOUNTS, P.ADJUST_BALANCES,
                           P.MANAGE_PLATFORM_BALANCES, P.RECORD_PARTNER_ACTIONS, P.OPERATE}),
    "scheduler": frozenset({P.RUN_TIMED_STEPS}),
    "settlement": frozenset(),  # its policy writes balance events; it runs no command
})
"""The platform's principals."""

HOST_CHECKED: Mapping[Permission, str] = MappingProxyType({
    P.SALES_BY_PERIOD: "the sales-by-period report",
    P.RESEND_PURCHASE_EMAILS: "resending purchase emails and notifications",
    P.CHECKOUT_SETTINGS: "checkout and payment-page settings",
    P.SALES_FUNNEL: "the sales funnel",
    P.API_AND_NOTIFICATIONS: "API keys and notification endpoints",
    P.SALES_BY_ORIGIN_REPORTS: "sales-by-origin reports",
    P.AFFILIATE_PAYMENTS: "the affiliate payments report",
    P.AFFILIATE_REPORTS: "affiliate leads, performance and payment reports",
})
"""Permissions no payledger command or read guards: the host checks them itself with
`actor.can(permission)` (the reports among them move to the dashboards' queries)."""

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PLATFORM_PARTY = "platform"
"""The party name of the platform's share of a sale; no account may take it."""


def account_only(permission: Permission) -> Mapping[Kind, Permission]:
    return MappingProxyType({Kind.ACCOUNT: permission})


def platform_only(permission: Permission) -> Mapping[Kind, Permission]:
    return MappingProxyType({Kind.PLATFORM: permission})


def either(account: Permission, platform: Permission | None = None) -> Mapping[Kind, Permission]:
    """Both kinds: the account's permission, and the platform's (the same by default)."""
    return MappingProxyType({Kind.ACCOUNT: account, Kind.PLATFORM: platform or account})


class Actor(BaseModel):
    """Who issues a command, of which kind, for which account, with which permissions.

    `role` is the platform role of a platform principal, and the profile of an
    account principal (`owner`, `support`, ..., or `custom`).
    """

    model_config = ConfigDict(frozen=True)

    id: Name
    account: Name
    permissions: frozenset[Permission] = Field(default_factory=frozenset)
    kind: Kind = Kind.ACCOUNT
    role: Name = "custom"

    @model_validator(mode="after")
    def _kinds_apart(self) -> Self:
        if self.kind is Kind.ACCOUNT:
            held = sorted(self.permissions & PLATFORM_PERMISSIONS)
            if held:
                raise ValidationError(
                    "permissions", f"an account principal never holds a platform "
                    f"permission ({', '.join(held)}); use Actor.platform")
            if self.account == PLATFORM_PARTY:
                raise ValidationError("account", f"{PLATFORM_PARTY!r} is the platform's")
        elif self.role not in PLATFORM_ROLES:
            raise ValidationError("role", f"unknown platform role {self.role!r} "
                                          f"({', '.join(sorted(PLATFORM_ROLES))})")
        return self

    @classmethod
    def preset(cls, preset: str, *, id: str, account: str) -> Actor:
        """An account principal with one of the collaborator profiles."""
        try:
            permissions = PRESETS[preset]
        except KeyError:
            known = ", ".join(sorted(PRESETS))
            hint = "; the platform's roles are Actor.platform's" if preset in PLATFORM_ROLES else ""
            raise ValidationError("preset", f"unknown preset {preset!r} ({known}){hint}") from None
        return cls(id=id, account=account, permissions=permissions, role=preset)

    @classmethod
    def platform(cls, role: str, *, id: str, account: str) -> Actor:
        """A platform principal of `role`, acting for `account` (the selling account
        of the sale it records, the account whose timer or balance it handles)."""
        if role not in PLATFORM_ROLES:
            known = ", ".join(sorted(PLATFORM_ROLES))
            raise ValidationError("role", f"unknown platform role {role!r} ({known})")
        return cls(id=id, account=account, permissions=PLATFORM_ROLES[role],
                   kind=Kind.PLATFORM, role=role)

    @property
    def is_platform(self) -> bool:
        return self.kind is Kind.PLATFORM

    def can(self, permission: Permission) -> bool:
        """For the permissions the host checks itself (checkout settings, funnel)."""
        return permission in self.permissions

    def require(self, permission: Permission, action: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(self.id, action, f"needs permission {permission.value!r}")

    def require_allowed(self, allowed: Mapping[Kind, Permission], action: str) -> None:
        """The command's declaration: this kind may run it, with this permission."""
        permission = allowed.get(self.kind)
        if permission is None:
            only = " or ".join(f"{kind.value} principals" for kind in allowed)
            raise Forbidden(self.id, action, f"runs for {only} only")
        self.require(permission, action)
