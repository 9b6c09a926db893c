"""Settings of one installation, read from the environment with a PAYLEDGER_ prefix.

Tests and embedding services pass `env={...}` instead of touching `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from payledger.adapters.store import DEFAULT_STORE_URL, Store, parse_store_url
from payledger.domain.commands import from_pydantic

PREFIX = "PAYLEDGER_"


def _days_list(value: object) -> object:
    """"1,3,5" from the environment, or a sequence given in code."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


RetryDays = Annotated[
    tuple[Annotated[int, Field(ge=1, le=30)], ...],
    BeforeValidator(_days_list), Field(max_length=10),
]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    store_url: str = DEFAULT_STORE_URL
    conflict_retries: Annotated[int, Field(ge=0, le=100)] = 10
    # aggregates kept in memory per application (the library's cache, fast-forwarded
    # from the store on each use); 0 turns it off
    aggregate_cache: Annotated[int, Field(ge=0)] = 10_000
    # a snapshot of an aggregate every N of its events, so a long-lived one loads from
    # it plus fewer than N events; 0: none. With snapshots on, every load the cache
    # misses reads the snapshot store first (one more query), so they are on by default
    # where aggregates grow without end (the settlement's wallets) and off for the
    # ledger's (turn them on for coupons of many thousand redemptions)
    snapshot_interval: Annotated[int, Field(ge=0)] = 100
    ledger_snapshot_interval: Annotated[int, Field(ge=0)] = 0
    abandon_window_seconds: Annotated[int, Field(ge=60)] = 3600
    pix_expiry_seconds: Annotated[int, Field(ge=60)] = 86_400
    platform_fee_bps: Annotated[int, Field(ge=0, le=10_000)] = 990  # sales without explicit split
    platform_fee_fixed: Annotated[int, Field(ge=0)] = 100  # minor units, per sale
    timezone: str = "America/Sao_Paulo"
    # subscriptions: consecutive failed cycles before unpaid (then canceled at the period
    # end); days after each failed renewal attempt before the next retry (PAYLEDGER_
    # DUNNING_RETRY_DAYS="1,3,5"); how long the first charge may stay unpaid
    dunning_failed_cycles: Annotated[int, Field(ge=1, le=100)] = 5
    dunning_retry_days: RetryDays = (1, 3, 5)
    subscription_incomplete_seconds: Annotated[int, Field(ge=60)] = 23 * 3600
    # settlement (docs/money.md): release terms, days after confirmation, per method
    # ("hubla": card 15, pix 8, boleto 2; "hotmart": 30 in BRL, 15 otherwise), each
    # overridable; the reserve (bps of the credits of the last window_days, recomputed
    # every interval_days); whether a refund takes back the platform's fee too
    release_terms: Literal["hubla", "hotmart"] = "hubla"
    release_card_days: Annotated[int, Field(ge=0, le=365)] | None = None
    release_pix_days: Annotated[int, Field(ge=0, le=365)] | None = None
    release_boleto_days: Annotated[int, Field(ge=0, le=365)] | None = None
    reserve_bps: Annotated[int, Field(ge=0, le=10_000)] = 400
    reserve_window_days: Annotated[int, Field(ge=1, le=365)] = 30
    reserve_interval_days: Annotated[int, Field(ge=1, le=365)] = 7
    refund_platform_fee: bool = True
    # a capture the gateway reports after the ledger closed the invoice it was asked for
    # (a subscription canceled, a plan canceled, retries given up): always recorded and
    # credited, then refunded at once ("refund"), or, for a one-off sale, kept ("reopen")
    late_payment: Literal["refund", "reopen"] = "refund"
    # refund windows: days after payment a refund may be approved, sent, or expire
    # unsent (None: no limit); Pix's 90 days is the central bank's rule
    refund_window_pix_days: Annotated[int, Field(ge=1, le=3_650)] | None = 90
    refund_window_card_days: Annotated[int, Field(ge=1, le=3_650)] | None = None
    refund_window_boleto_days: Annotated[int, Field(ge=1, le=3_650)] | None = None
    # business time's bounds: no instant before `earliest_instant` (history imports stay
    # possible), no business instant later than the clock plus `clock_skew_seconds`, no
    # due date later than the clock plus `horizon_days` (13 months)
    earliest_instant: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    clock_skew_seconds: Annotated[int, Field(ge=0, le=86_400)] = 300
    horizon_days: Annotated[int, Field(ge=1, le=3_660)] = 396

    @property
    def refund_windows(self) -> dict[str, timedelta]:
        """Each method's refund window (a method without one has no limit)."""
        days = {"pix": self.refund_window_pix_days, "card": self.refund_window_card_days,
                "boleto": self.refund_window_boleto_days}
        return {method: timedelta(days=n) for method, n in days.items() if n is not None}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        source = os.environ if env is None else env
        values: dict[str, object] = {
            name: source[PREFIX + name.upper()]
            for name in cls.model_fields
            if PREFIX + name.upper() in source
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as error:
            raise from_pydantic(error) from None

    @property
    def store(self) -> Store:
        return parse_store_url(self.store_url)

    @property
    def abandon_window(self) -> timedelta:
        return timedelta(seconds=self.abandon_window_seconds)

    @property
    def pix_expiry(self) -> timedelta:
        return timedelta(seconds=self.pix_expiry_seconds)

    @property
    def subscription_incomplete(self) -> timedelta:
        return timedelta(seconds=self.subscription_incomplete_seconds)
