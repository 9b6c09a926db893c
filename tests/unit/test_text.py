"""Free text is bounded and clean: every field a caller fills refuses control,
bidirectional-override and surrogate characters by name, and long text by length."""

from __future__ import annotations

from uuid import uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.customer import Customer
from payledger.domain.errors import ValidationError
from tests import factories as f

HOSTILE = ["ana\x1b[31m", "nul\x00byte", "rtl\u202eexe.pdf", "iso\u2066late", "lone\ud800"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_buyers_name_and_email_refuse_hostile_characters(value):
    for field in ("name", "email"):
        with pytest.raises(ValidationError) as caught:
            Customer.parse(**{**f.CUSTOMER, field: value if field == "name"
                              else value + "@example.com"})
        assert caught.value.field == field


@pytest.mark.parametrize("value", HOSTILE)
def test_reasons_descriptions_and_justifications_refuse_them(value):
    with pytest.raises(ValidationError) as reason:
        c.VoidInvoice(invoice_id=uuid4(), reason=value)
    assert reason.value.field == "reason"
    with pytest.raises(ValidationError) as description:
        f.create_invoice(items=[{"product_id": "p", "unit_price": 100, "description": value}])
    assert description.value.field == "items.0.description"
    with pytest.raises(ValidationError) as justification:
        f.request_refund(uuid4(), justification=value)
    assert justification.value.field == "justification"


def test_text_is_bounded_and_a_justification_keeps_its_lines():
    with pytest.raises(ValidationError) as huge:
        f.create_invoice(items=[{"product_id": "p", "unit_price": 100,
                                 "description": "x" * 50_000_000}])
    assert huge.value.field == "items.0.description"
    refund = f.request_refund(uuid4(), justification="first line\nsecond line\twith a tab")
    assert "\n" in refund.justification
    with pytest.raises(ValidationError):
        c.VoidInvoice(invoice_id=uuid4(), reason="two\nlines")  # a reason is one line
