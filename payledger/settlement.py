"""The settlement policy: balances follow the Ledger's invoices, exactly once.

DESIGN.md §3: no hot aggregate on the payment path. A sale never waits on a balance;
this process application follows the Ledger's notification log and turns each
invoice event into balance events (`domain/balance.py`, rules in
`domain/settlement_rules.py`, docs/money.md). The library's process recorder writes the
balance events of a page of invoice events and the tracking position of its last in one
transaction, so a crash anywhere loses nothing and doubles nothing: a restart resumes
after the last page whose balance events were written.

Its store derives from the Ledger's (`--store`): on SQLite a file of its own beside
the events (the core SQLite recorder has fixed table names), on PostgreSQL the same
database and schema (tables named `settlement_*`). The balance commands users issue
(withdrawals, bank account, adjustments, the time steps) run here too, through the
same `execute` as the Ledger's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, NotificationLog, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    Notification,
    PersistenceError,
    Tracking,
)
from eventsourcing.system import NotificationLogReader, ProcessApplication
from eventsourcing.utils import get_topic

from payledger import bootstrap
from payledger.adapters.store import Store
from payledger.adapters.timer_index import TimerIndex
from payledger.commanding import CommandApplication, follow_heads
from payledger.dead_letters import blocked, follower_envelope, letters
from payledger.domain.balance import Balance, Source
from payledger.domain.dead_letter import DeadLetter, described
from payledger.domain.envelope import Envelope, LedgerAggregate, acting, current_envelope
from payledger.domain.errors import Conflict, NotFound, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor, Kind, Permission
from payledger.domain.settlement_rules import Outflows, ReleaseTerms, by_party, stakes
from payledger.domain.splits import SplitLine
from payledger.domain.time import Clock, TimePolicy, aware
from payledger.handlers.balance import reserve_interval
from payledger.ledger import Ledger
from payledger.scheduler import Scheduler, TickReport
from payledger.settings import Settings
from payledger.settlement_store import (
    ResetReport,
    dropped,
    move_aside,
    outdated,
    refuse_outdated,
    stamp,
)
from payledger.work import load

LEDGER = Ledger.name
ACTOR = "settlement"
NAMESPACE = UUID("5d0e3a4c-8f61-4c2b-b1a7-6e9f02d4c3b8")
FOLLOWED = (Invoice.Paid, Invoice.Refunded, Invoice.ChargedBack,
            Invoice.DisputeOpened, Invoice.DisputeWon)


@dataclasses.dataclass(frozen=True)
class Sale:
    """An invoice as the policy needs it, read from the Ledger up to one event."""

    currency: str
    method: str
    splits: list[SplitLine]
    steps: list[int]  # money that left the sale before: refunds, chargebacks, in order


def settlement_store(store: Store) -> Store:
    if store.kind == "sqlite":
        return dataclasses.replace(store, path=store.derived_path("settlement", ".db"))
    return store


class Settlement(CommandApplication, ProcessApplication[UUID]):
    name = "settlement"
    topics = tuple(get_topic(cls) for cls in FOLLOWED)
    pull_section_size = 500

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None,
                 ledger: Ledger | None = None, check_store: bool = True) -> None:
        """`check_store`: refuse a store written before each party had its own wallet
        (`payledger.settlement_store`); only the reset reads one."""
        settings = settings or Settings.from_env()
        self._loaded: dict[UUID, Balance] = {}  # one object per balance per event
        self._blocked: set[str] | None = None  # invoices with a pending dead letter
        self._scheduler: Scheduler | None = None
        self._owns_ledger = ledger is None
        self.ledger = ledger if ledger is not None else Ledger(settings, clock=clock)
        try:
            super().__init__(settings, settlement_store(settings.store),
                             bootstrap.application_wiring("settlement"),
                             clock=clock or self.ledger.clock)
            if check_store:
                refuse_outdated(self.recorder, self.mapper.transcoder.decode,
                                settlement_store(settings.store))
        except BaseException:
            self._close_ledger()
            raise
        self.follow(LEDGER, self.ledger.notification_log)
        self.ledger.followers[self.name] = self  # the Ledger's tick runs ours after its own

    @property
    def directory(self) -> Ledger:
        """The accounts are the Ledger's."""
        return self.ledger

    def follow(self, name: str, log: NotificationLog) -> None:
        """Read the Ledger's log with the Ledger's own mapper (no second connection pool)."""
        self.readers[name] = NotificationLogReader(log)
        self.mappers[name] = self.ledger.mapper

    def pull_notifications(
        self, leader_name: str, start: int | None, stop: int | None = None, *,
        inclusive_of_start: bool = True,
    ) -> Iterator[Sequence[Notification]]:
        """Pages of `pull_section_size` straight from the Ledger's recorder (its log
        object serves sections of 10)."""
        assert leader_name == LEDGER
        while page := self.ledger.recorder.select_notifications(
            start=start, limit=self.pull_section_size, stop=stop, topics=self.topics,
            inclusive_of_start=inclusive_of_start,
        ):
            yield page
            start, inclusive_of_start = page[-1].id, False

    def close(self) -> None:
        self.ledger.followers.pop(self.name, None)
        if self._scheduler is not None:
            self._scheduler.index.close()
        super().close()
        self._close_ledger()

    def _close_ledger(self) -> None:
        if self._owns_ledger:
            self.ledger.close()

    # -- time ----------------------------------------------------------------------

    @property
    def scheduler(self) -> Scheduler:
        if self._scheduler is None:
            index = TimerIndex(self.settings.store, self.name)
            self._scheduler = Scheduler(self, index, TimePolicy(), self.wiring.timed)
        return self._scheduler

    def tick(self, as_of: datetime) -> TickReport:
        """Catch up with the Ledger, then run every balance step due by `as_of`:
        releases at each `available_on`, the weekly reserve recompute."""
        self.catch_up()
        return self.scheduler.tick(as_of)

    # -- following the log ---------------------------------------------------------

    @property
    def position(self) -> int:
        """The id of the last Ledger notification processed (0 before the first)."""
        return self.recorder.max_tracking_id(LEDGER) or 0

    def catch_up(self) -> int:
        """Process every new invoice event, a page at a time; return how many.

        A write that loses to another writer (a withdrawal on the same balance, or
        another settlement process) is not lost: the page is read again from the
        tracking position, with the balances as they now stand; a store error is
        raised (the next call resumes from the same position). An event the policy
        cannot process or decode never stops the others: it is set aside as a dead
        letter (`payledger.domain.dead_letter`) in the transaction that moves the
        tracking position past it, and its invoice's later events wait behind it
        until an operator retries it (`retry_dead_letters`).
        """
        processed = lost = 0
        while True:
            try:
                for page in self.pull_notifications(LEDGER, start=self.position,
                                                    inclusive_of_start=False):
                    processed += self._process_page(page)
            except IntegrityError:
                lost += 1
                if lost > self.settings.conflict_retries:
                    raise Conflict(f"settlement: a concurrent write won {lost} times") from None
                continue
            return processed

    def _process_page(self, page: Sequence[Notification]) -> int:
        """A page of invoice events in one transaction; when one of them cannot be
        processed (or waits behind a dead letter of its invoice), the page runs again
        an event at a time, so the others are written and that one is set aside."""
        blocked = self._blocked_invoices()
        if not any(str(n.originator_id) in blocked for n in page):
            try:
                self._write(self.convert_notifications(LEDGER, page))
            except PersistenceError:
                raise
            except Exception:
                pass
            else:
                return len(page)
        for notification in page:
            self._process_one(notification, blocked)
        return len(page)

    def _process_one(self, notification: Notification, blocked: set[str]) -> None:
        invoice = str(notification.originator_id)
        if invoice in blocked:
            self._set_aside(notification, "waits behind an earlier dead letter of its "
                                          "invoice", waiting=True)
            return
        try:
            self._write(self.convert_notifications(LEDGER, [notification]))
        except PersistenceError:
            raise
        except Exception as error:
            self._set_aside(notification, described(error))
            blocked.add(invoice)

    def _set_aside(self, notification: Notification, error: str, waiting: bool = False) -> None:
        """A dead letter for `notification`, written with the tracking position past it."""
        key = f"{LEDGER}:{notification.id}"
        tracking = Tracking(application_name=LEDGER, notification_id=notification.id)
        processing_event = ProcessingEvent[UUID](tracking=tracking)
        with acting(self._letter_envelope(key)):
            letter = DeadLetter.record(ACTOR, key, notification.originator_id,
                                       notification.originator_version, notification.topic,
                                       error, waiting)
        processing_event.collect_events(letter)
        with self.chain.saving():
            self.events.put(processing_event.events, tracking=tracking)

    def _letter_envelope(self, key: str) -> Envelope:
        """The envelope the settlement writes its dead letters in, now."""
        return follower_envelope(ACTOR, "settlement", key, self.clock.now())

    def _blocked_invoices(self) -> set[str]:
        """The invoices with a pending dead letter (read once, then kept up to date)."""
        if self._blocked is None:
            self._blocked = blocked(self, ACTOR)
        return self._blocked

    def retry_dead_letters(self) -> list[DeadLetter]:
        """Process each pending letter's event again, in log order, with the balances as
        they now stand; a letter processed is resolved in the same transaction as the
        balance events it wrote. A letter still refused keeps its invoice's later ones
        waiting. Returns the letters still pending."""
        failed: set[str] = set()
        pending: list[DeadLetter] = []
        for letter in letters(self, ACTOR):
            if letter.aggregate_id in failed:
                pending.append(letter)
                continue
            try:
                self._replay(letter)
            except PersistenceError:
                raise
            except Exception as error:
                with acting(self._letter_envelope(letter.key)):
                    letter.retry_failed(described(error))
                self.save(letter)
                failed.add(letter.aggregate_id)
                pending.append(letter)
        self._blocked = failed
        return pending

    def _replay(self, letter: DeadLetter) -> None:
        assert letter.event_version is not None
        invoice_id = UUID(letter.aggregate_id)
        (domain_event,) = self.ledger.events.get(invoice_id, gt=letter.event_version - 1,
                                                 lte=letter.event_version)
        processing_event = ProcessingEvent[UUID]()
        self._loaded = {}
        try:
            self.policy(domain_event, processing_event)
            with acting(self._letter_envelope(letter.key)):
                letter.resolve()
            processing_event.collect_events(letter)
            with self.chain.saving() as heads:
                self.events.put(processing_event.events)
        finally:
            self._loaded = {}
        follow_heads(processing_event.aggregates.values(), heads)
        self._keep(processing_event.aggregates.values())

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self._write([(domain_event, tracking)])

    def _write(self, events: list[tuple[Any, Tracking]]) -> None:
        """The balance events of `events`, tracked at the last, in one transaction:
        each balance is loaded once and takes the events in order; the chain is sealed
        as the mapper encodes."""
        if not events:
            return
        processing_event = ProcessingEvent[UUID](tracking=events[-1][1])
        self._loaded = {}
        try:
            for domain_event, _ in events:
                self.policy(domain_event, processing_event)
            with self.chain.saving() as heads:
                self.events.put(processing_event.events, tracking=processing_event.tracking)
        finally:
            self._loaded = {}
        follow_heads(processing_event.aggregates.values(), heads)
        self._keep(processing_event.aggregates.values())
        self.snapshot_due(processing_event.aggregates.values(), processing_event.events)

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """Events the settlement does not follow change no balance."""

    @policy.register(Invoice.Paid)
    def _paid(self, event: Invoice.Paid, processing_event: ProcessingEvent[UUID]) -> None:
        sale = self._sale(event)
        tz = self.settings.timezone
        confirmed = event.paid_at if sale.method == "pix" else event.at
        available_on = self.release_terms(sale.currency).available_on(sale.method, confirmed, tz)
        with self._acting(event):
            for split in event.splits:
                if split["amount"] > 0:
                    with self._wallet(split["party"], sale.currency) as balance:
                        balance.credit(event.originator_id, split["amount"], available_on,
                                       event.paid_at, tz, _source(event, split),
                                       reserve_bps=self.settings.reserve_bps)
                    processing_event.collect_events(balance)

    @policy.register(Invoice.Refunded)
    def _refunded(self, event: Invoice.Refunded, processing_event: ProcessingEvent[UUID]) -> None:
        self._money_out(event, processing_event, "refund", str(event.refund_id))

    @policy.register(Invoice.ChargedBack)
    def _charged_back(
        self, event: Invoice.ChargedBack, processing_event: ProcessingEvent[UUID]
    ) -> None:
        self._money_out(event, processing_event, "chargeback", "dispute lost")

    @policy.register(Invoice.DisputeOpened)
    def _dispute_opened(
        self, event: Invoice.DisputeOpened, processing_event: ProcessingEvent[UUID]
    ) -> None:
        sale = self._sale(event)
        outflows = self._outflows(sale)
        left = by_party(outflows.stakes, outflows.left())
        with self._acting(event):
            for split in sale.splits:
                amount, _ = left.get(split["party"], (0, 0))
                if amount > 0:
                    with self._wallet(split["party"], sale.currency) as balance:
                        balance.withhold(event.originator_id, amount, _source(event, split))
                    processing_event.collect_events(balance)

    @policy.register(Invoice.DisputeWon)
    def _dispute_won(
        self, event: Invoice.DisputeWon, processing_event: ProcessingEvent[UUID]
    ) -> None:
        with self._acting(event):
            self._reinstate(event, self._sale(event), processing_event)

    def _money_out(self, event: Any, processing_event: ProcessingEvent[UUID], cause: str,
                   reference: str) -> None:
        """A refund or a chargeback, shared by the cumulative rule: each cent to the
        party furthest below its exact share of all that left the sale so far."""
        sale = self._sale(event)
        outflows = self._outflows(sale)
        parts = by_party(outflows.stakes, outflows.shares(event.amount))
        with self._acting(event):
            for split in sale.splits:
                amount, kept_fee = parts.get(split["party"], (0, 0))
                if amount > 0:
                    with self._wallet(split["party"], sale.currency) as balance:
                        balance.debit(event.originator_id, amount, cause, reference,
                                      _source(event, split), kept_fee=kept_fee)
                    processing_event.collect_events(balance)
            if cause == "chargeback":  # the dispute is over: what it held and did not take
                self._reinstate(event, sale, processing_event)

    def _reinstate(self, event: Any, sale: Sale, processing_event: ProcessingEvent[UUID]) -> None:
        """What a dispute held of each party's stake goes back (nothing held, nothing done)."""
        for split in sale.splits:
            balance_id = self._balance_id(split["party"], sale.currency)
            if self._find(balance_id) is None:
                continue
            with self._wallet(split["party"], sale.currency) as balance:
                balance.reinstate(event.originator_id, _source(event, split))
            processing_event.collect_events(balance)

    # -- reading the Ledger and the balances ---------------------------------------

    def release_terms(self, currency: str) -> ReleaseTerms:
        s = self.settings
        return ReleaseTerms.preset(s.release_terms, currency).with_overrides(
            card_days=s.release_card_days, pix_days=s.release_pix_days,
            boleto_days=s.release_boleto_days)

    def _outflows(self, sale: Sale) -> Outflows:
        """What left the sale before the event, per line of its stakes."""
        lines = stakes(sale.splits, platform_refunds_fee=self.settings.refund_platform_fee)
        return Outflows.of(lines, sale.steps)

    def _sale(self, event: Any) -> Sale:
        """The invoice's currency, method and splits, and the money that left it before
        `event`: its own history up to `event`, so a replay decides the same."""
        currency = method = ""
        splits: list[SplitLine] = []
        steps: list[int] = []
        history = self.ledger.events.get(event.originator_id, lte=event.originator_version)
        for past in history:
            if isinstance(past, Invoice.Created):
                currency, method = past.currency, past.method
            elif isinstance(past, Invoice.Paid):
                splits = past.splits
            elif (isinstance(past, Invoice.Refunded | Invoice.ChargedBack)
                  and past.originator_version < event.originator_version):
                steps.append(past.amount)
        return Sale(currency=currency, method=method, splits=splits, steps=steps)

    @contextmanager
    def _wallet(self, party: str, currency: str) -> Iterator[Balance]:
        """The party's balance (opened at its first movement), moved in the party's
        own envelope: a balance event's account is the wallet's. The selling account
        is the invoice event's (the open envelope's)."""
        selling_account = current_account()
        balance_id = self._balance_id(party, currency)
        with acting(dataclasses.replace(current_envelope(), account=party)):
            found = self._find(balance_id)
            if found is None:
                found = Balance.open(party, currency, selling_account=selling_account,
                                     reserve_interval=reserve_interval(self.settings))
                self._loaded[found.id] = found
            yield found

    @staticmethod
    def _balance_id(party: str, currency: str) -> UUID:
        return Balance.create_id(party, currency, selling_account=current_account())

    def _find(self, balance_id: UUID) -> Balance | None:
        """The balance as this event has it so far (loaded once per event)."""
        if balance_id not in self._loaded:
            found = self._stored(balance_id)
            if found is None:
                return None
            self._loaded[balance_id] = found
        return self._loaded[balance_id]

    def _stored(self, balance_id: UUID) -> Balance | None:
        try:
            found: LedgerAggregate = self.repository.get(balance_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, Balance)
        return found

    @contextmanager
    def _acting(self, event: Any) -> Iterator[Envelope]:
        """The invoice event's envelope, passed on: same account, business instant and
        correlation; caused by the event itself (its id); a command id derived from the
        event, so a replay writes the same."""
        envelope = Envelope(
            account=event.account, at=aware(event.at, "at"), actor=ACTOR,
            actor_kind=Kind.PLATFORM.value, actor_role="settlement",
            correlation_id=event.correlation_id, causation_id=event.id,
            command_id=uuid5(NAMESPACE, f"{event.originator_id}/{event.originator_version}"),
        )
        with acting(envelope):
            yield envelope

    # -- queries -------------------------------------------------------------------

    def balance(self, actor: Actor, currency: str, *, party: str | None = None,
                selling_account: str | None = None) -> Balance:
        """A balance as it stands (NotFound before its first movement).

        An account principal reads its own wallet (its account is the party) with the
        financial reports permission; another party's is NotFound, as for one that
        does not exist. An operator reads any party's (`party`), and the platform's of
        a selling account."""
        if actor.is_platform:
            actor.require(Permission.ADJUST_BALANCES, "read a balance")
            if party is None:
                raise ValidationError("party", "an operator names the party it reads")
            balance_id = Balance.create_id(party, currency, selling_account)
            return load(self, Balance, balance_id)
        actor.require(Permission.FINANCIAL_REPORTS, "read a balance")
        if party not in (None, actor.account):
            raise NotFound(Balance.KIND, Balance.create_id(party, currency))
        return self.get(actor, Balance, Balance.create_id(actor.account, currency))

    def balances(self) -> Iterator[Balance]:
        """Every balance this store holds, of every account (for audits and tests)."""
        seen: set[UUID] = set()
        for page in self._pages():
            for notification in page:
                if notification.originator_id not in seen:
                    seen.add(notification.originator_id)
                    found = self._stored(notification.originator_id)
                    if found is not None:
                        yield found

    def _pages(self) -> Iterator[list[Any]]:
        start = 0
        while page := self.recorder.select_notifications(
            start=start, limit=1000, topics=("payledger:Balance.Opened",),
            inclusive_of_start=False,
        ):
            yield list(page)
            start = page[-1].id


def current_account() -> str:
    return current_envelope().account


def _source(event: Any, split: SplitLine) -> Source:
    return {"source_account": event.account, "role": split["role"]}


def reset_settlement(settings: Settings, *, clock: Clock | None = None) -> ResetReport:
    """Move a store written before each party had its own wallet aside, and catch up
    again from the Ledger's log; report what only the old store held."""
    old = Settlement(settings, clock=clock, check_store=False)
    try:
        decode = old.mapper.transcoder.decode
        if not outdated(old.recorder, decode):
            raise ValidationError("store", "the settlement store is current: nothing to reset")
        lost = dropped(old.recorder, decode)
    finally:
        old.close()
    report = ResetReport(moved_to=move_aside(settings, settlement_store(settings.store),
                                             stamp()), dropped=lost)
    new = Settlement(settings, clock=clock)
    try:
        report.processed = new.catch_up()
    finally:
        new.close()
    return report


def open_settlement(settings: Settings | None = None, *, clock: Clock | None = None,
                    ledger: Ledger | None = None) -> Settlement:
    """The settlement of the store `settings` names; it follows `ledger` when given
    (sharing its connections), otherwise a Ledger of its own that it closes."""
    return Settlement(settings, clock=clock, ledger=ledger)
