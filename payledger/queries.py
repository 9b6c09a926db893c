"""Queries that read one aggregate for an actor and shape it for a person.

`recovery_link` gives the WhatsApp link a producer or support agent opens to ask the
buyer of an overdue installment plan to pay what is due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote
from uuid import UUID

from payledger.domain.errors import ValidationError
from payledger.domain.installments import InstallmentPlan
from payledger.domain.money import MINOR_UNITS
from payledger.domain.permissions import Actor, Permission

if TYPE_CHECKING:
    from payledger.ledger import Ledger

SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_amount(amount: int, currency: str) -> str:
    """Minor units written as a Brazilian reads them: `format_amount(123456, "BRL")`
    is "R$ 1.234,56"; currencies without a symbol here are written with their code."""
    exponent = MINOR_UNITS[currency]
    whole, fraction = divmod(abs(amount), 10**exponent)
    digits = f"{whole:,}".replace(",", ".")
    if exponent:
        digits = f"{digits},{fraction:0{exponent}d}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, currency)} {digits}"


def recovery_message(plan: InstallmentPlan) -> str:
    """What the buyer reads: the product, the amount due and which installments."""
    overdue = plan.numbers("overdue")
    if not overdue:
        raise ValidationError("plan_id", f"plan {plan.id} has no overdue installment "
                                         f"(status {plan.status})")
    product = ", ".join(item["description"] or item["product_id"] for item in plan.items)
    which = ", ".join(str(n) for n in overdue)
    noun = "parcela" if len(overdue) == 1 else "parcelas"
    first_name = plan.customer["name"].split()[0]
    return (f"Olá, {first_name}! O pagamento de {product} está pendente: "
            f"{format_amount(plan.amount_due(), plan.currency)} ({noun} {which} de "
            f"{plan.count}). Podemos ajudar você a concluir?")


def whatsapp_link(plan: InstallmentPlan) -> str:
    """`https://wa.me/<the buyer's E.164 digits>?text=<the recovery message>`."""
    phone = plan.customer.get("phone")
    if not phone:
        raise ValidationError("customer.phone", "the buyer left no phone number")
    digits = "".join(char for char in phone if char.isdigit())
    return f"https://wa.me/{digits}?text={quote(recovery_message(plan), safe='')}"


def recovery_link(ledger: Ledger, actor: Actor, plan_id: UUID) -> str:
    """The WhatsApp recovery link of an overdue plan of the actor's account."""
    actor.require(Permission.PURCHASE_RECOVERY_REPORT, "get a recovery link")
    return whatsapp_link(ledger.get(actor, InstallmentPlan, plan_id,
                                    permission=Permission.PURCHASE_RECOVERY_REPORT))
