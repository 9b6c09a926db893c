"""Onboarding: the platform registers the accounts, the producer's owner adds its team.

A platform operator registers the producer's account (a company: its CNPJ anchors its
bank accounts) and each partner's (people: their CPFs), as a platform would when each
signs up. The producer's owner then adds collaborators with their profiles, and on day
12 removes one: that collaborator's next command, through the actor it held, is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from payledger.domain import commands as c
from payledger.domain.customer import complete_cpf
from payledger.domain.permissions import PLATFORM_PARTY, Actor, Permission
from payledger.simulation.base import ACCOUNT, OWNER_USER, SimulationBase

CNPJ = "11222333000181"  # the producer's company
PLATFORM_CNPJ = "11222333000262"
PARTNERS = ("coproducer-leo", "coproducer-max", "coproducer-rita", "coproducer-ivo",
            "affiliate-0", "affiliate-1", "affiliate-2", "affiliate-3", "affiliate-4")
TEAM = (("bia@producer-ana.example", "support"), ("caio@producer-ana.example", "financial"),
        ("rui@producer-ana.example", "affiliate_manager"))
TEMP = "duda@producer-ana.example"  # a custom profile, removed on day 12


def partner(account: str) -> Actor:
    """A partner's own owner: a principal of its account, never of the producer's."""
    return Actor.preset("owner", id=f"owner@{account}.example", account=account)


def document_of(party: str) -> str:
    """The legal document each party registered with (its bank accounts carry it)."""
    if party == ACCOUNT:
        return CNPJ
    if party == PLATFORM_PARTY:
        return PLATFORM_CNPJ
    index = PARTNERS.index(party)
    return complete_cpf(f"{index + 100:03d}{index * 7919:06d}")


class Onboarding(SimulationBase):
    def schedule(self, start: datetime) -> None:
        super().schedule(start)
        self.at(start + timedelta(days=12), lambda: self.send(self.owner, c.RemoveCollaborator(
            email=TEMP)))
        self.at(start + timedelta(days=13), lambda: self.send(self.temp, c.RequestRefund(
            invoice_id=self.uuid(), justification="asked after leaving the team")))

    def onboard(self) -> None:
        """Day 0, before the shop opens."""
        self.send(self.onboarding, c.RegisterAccount(
            account=ACCOUNT, owner_user=OWNER_USER, document=CNPJ, kind="company"))
        for party in PARTNERS:
            self.send(self.onboarding, c.RegisterAccount(
                account=party, owner_user=partner(party).id, document=document_of(party),
                kind="person"))
        for index, (user, profile) in enumerate(TEAM):
            self.send(self.owner, c.AddCollaborator(
                email=user, cpf=complete_cpf(f"{index + 300:03d}{index:06d}"), profile=profile))
        self.send(self.owner, c.AddCollaborator(
            email=TEMP, cpf=complete_cpf("400000001"),
            permissions=frozenset({Permission.SEARCH_PURCHASES, Permission.REQUEST_REFUNDS})))
        self.temp = self.ledger.actor(ACCOUNT, TEMP)  # kept after the removal: refused then

    @property
    def onboarding(self) -> Actor:
        return Actor.platform("operator", id="ops-onboarding", account=PLATFORM_PARTY)
