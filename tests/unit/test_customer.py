import string

import pydantic
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from payledger.domain.customer import (
    Customer,
    document_kind,
    is_valid_cnpj,
    is_valid_cpf,
    normalize_document,
)
from payledger.domain.errors import ValidationError

ALPHANUMERIC = string.digits + string.ascii_uppercase


def mod11_digits(base: str) -> str:
    """The two check digits of a CPF or CNPJ base, computed independently of the module.

    Weights run 2, 3, 4, ... from the rightmost character, restarting after 9 for a
    CNPJ (up to 11 for a CPF); each character is worth ord(char) - 48, so 'A' is 17.
    """
    cycle = 9 if len(base) == 12 else 11
    digits = base
    for _ in range(2):
        total = sum(
            (ord(char) - 48) * (2 + position % (cycle - 1))
            for position, char in enumerate(reversed(digits))
        )
        remainder = total % 11
        digits += "0" if remainder < 2 else str(11 - remainder)
    return digits[-2:]


def test_the_helper_agrees_with_published_examples():
    assert mod11_digits("112223330001") == "81"
    assert mod11_digits("12ABC34501DE") == "35"  # Receita Federal's alphanumeric example
    assert mod11_digits("529982247") == "25"


# CPF


@pytest.mark.parametrize(
    "cpf", ["529.982.247-25", "52998224725", "111.444.777-35", " 123 456 789 09 "]
)
def test_valid_cpfs(cpf):
    assert is_valid_cpf(cpf)


@pytest.mark.parametrize(
    "cpf",
    [
        "529.982.247-24",  # wrong second check digit
        "529.982.247-15",  # wrong first check digit
        "111.111.111-11",  # all one digit, though its check digits add up
        "000.000.000-00",
        "5299822472",  # 10 digits
        "529982247250",  # 12 digits
        "52998224A25",
        "",
        "11.222.333/0001-81",  # a CNPJ
    ],
)
def test_invalid_cpfs(cpf):
    assert not is_valid_cpf(cpf)


@given(st.text(alphabet=string.digits, min_size=9, max_size=9))
def test_any_cpf_base_with_its_check_digits_is_valid(base):
    cpf = base + mod11_digits(base)
    assume(len(set(cpf)) > 1)
    assert is_valid_cpf(cpf)


# CNPJ


@pytest.mark.parametrize(
    "cnpj",
    [
        "11.222.333/0001-81",
        "11222333000181",
        "11.444.777/0001-61",
        "12.ABC.345/01DE-35",
        "12ABC34501DE35",
        "12.abc.345/01de-35",  # letters are upper-cased first
    ],
)
def test_valid_cnpjs(cnpj):
    assert is_valid_cnpj(cnpj)


@pytest.mark.parametrize(
    "cnpj",
    [
        "11.222.333/0001-82",
        "11.222.333/0001-71",
        "12.ABC.345/01DE-53",
        "12.ABD.345/01DE-35",  # one letter changed
        "12.ABC.345/01DE-3A",  # check digits must be decimal
        "12.AB?.345/01DE-35",
        "00.000.000/0000-00",  # all one digit, though its check digits add up
        "11.111.111/1111-11",
        "1122233300018",  # 13 characters
        "112223330001811",  # 15 characters
        "529.982.247-25",  # a CPF
        "",
    ],
)
def test_invalid_cnpjs(cnpj):
    assert not is_valid_cnpj(cnpj)


@given(st.text(alphabet=ALPHANUMERIC, min_size=12, max_size=12))
def test_any_alphanumeric_cnpj_base_with_its_check_digits_is_valid(base):
    cnpj = base + mod11_digits(base)
    assume(len(set(cnpj)) > 1)
    assert is_valid_cnpj(cnpj)


@given(st.text(alphabet=ALPHANUMERIC, min_size=12, max_size=12), st.integers(1, 99))
def test_only_one_pair_of_check_digits_is_valid(base, shift):
    wrong = (int(mod11_digits(base)) + shift) % 100
    assert not is_valid_cnpj(f"{base}{wrong:02d}")


# Documents


@pytest.mark.parametrize(
    ("value", "kind", "normal"),
    [
        ("529.982.247-25", "cpf", "52998224725"),
        ("11.222.333/0001-81", "cnpj", "11222333000181"),
        ("12.abc.345/01de-35", "cnpj", "12ABC34501DE35"),
    ],
)
def test_document_kind_and_normal_form(value, kind, normal):
    assert document_kind(value) == kind
    assert normalize_document(value) == normal


@pytest.mark.parametrize("function", [document_kind, normalize_document])
@pytest.mark.parametrize("value", ["529.982.247-24", "12.ABC.345/01DE-36", "", "abc"])
def test_an_invalid_document_is_rejected(function, value):
    with pytest.raises(ValidationError) as caught:
        function(value)
    assert caught.value.field == "document"


# Customer


def parse(**overrides):
    fields = {"name": "Ana Souza", "email": "ana@example.com.br", "document": "529.982.247-25"}
    return Customer.parse(**(fields | overrides))


def rejected_field(**overrides):
    with pytest.raises(ValidationError) as caught:
        parse(**overrides)
    return caught.value.field


def test_parse_normalises_every_field():
    customer = parse(
        name="  Ana Souza ",
        email=" Ana.Souza+Bills@Example.COM.br ",
        phone="+55 (11) 98765-4321",
        country="br",
        document="12.abc.345/01de-35",
    )
    assert customer.to_dict() == {
        "name": "Ana Souza",
        "email": "ana.souza+bills@example.com.br",
        "phone": "+5511987654321",
        "country": "BR",
        "document": "12ABC34501DE35",
    }


def test_defaults():
    customer = parse()
    assert customer.country == "BR"
    assert customer.phone is None
    assert customer.document == "52998224725"


def test_a_customer_is_frozen():
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        parse().name = "Bia"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, 42, None])
def test_a_bad_name_is_rejected(name):
    assert rejected_field(name=name) == "name"


def test_a_name_of_two_hundred_characters_is_accepted():
    assert parse(name="x" * 200).name == "x" * 200


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@mail.example.com", "Über@exämple.de"])
def test_valid_emails(email):
    assert parse(email=email).email == email.lower()


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@@example.com",
        "ana@bia@example.com",
        "ana@.example.com",
        "ana@example.com.",
        "ana@example..com",
        "ana souza@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_invalid_emails(email):
    assert rejected_field(email=email) == "email"


@pytest.mark.parametrize(
    ("phone", "normal"),
    [
        ("+5511987654321", "+5511987654321"),
        ("+55 (11) 98765-4321", "+5511987654321"),
        ("+1 415-555-0100", "+14155550100"),
        ("+12345678", "+12345678"),  # 8 digits
        ("+123456789012345", "+123456789012345"),  # 15 digits
    ],
)
def test_phones_are_stored_as_e164(phone, normal):
    assert parse(phone=phone).phone == normal


@pytest.mark.parametrize(
    "phone",
    ["", "5511987654321", "+1234567", "+1234567890123456", "+0 11 98765 4321", "+55.11.98765.4321"],
)
def test_invalid_phones(phone):
    assert rejected_field(phone=phone) == "phone"


@pytest.mark.parametrize(("country", "normal"), [("us", "US"), ("PT", "PT"), (" gb ", "GB")])
def test_countries_are_upper_case(country, normal):
    assert parse(country=country).country == normal


@pytest.mark.parametrize("country", ["", "XX", "UK", "USA", "B", "12"])
def test_invalid_countries(country):
    assert rejected_field(country=country) == "country"


@pytest.mark.parametrize("document", ["529.982.247-24", "11.222.333/0001-80", ""])
def test_an_invalid_document_is_rejected_by_name(document):
    assert rejected_field(document=document) == "document"


def test_a_document_is_required_in_brazil():
    assert rejected_field(document=None) == "document"
    customer = parse(document=None, country="US")
    assert customer.document is None


def test_a_foreign_customer_may_still_carry_a_document():
    assert parse(country="PT", document="11.222.333/0001-81").document == "11222333000181"


def test_an_unknown_field_is_named():
    assert rejected_field(nickname="Aninha") == "nickname"


def test_a_missing_field_is_named():
    with pytest.raises(ValidationError) as caught:
        Customer.parse(name="Ana", document="52998224725")
    assert caught.value.field == "email"


def test_the_first_fault_in_field_order_is_reported():
    assert rejected_field(name="", email="nope", document="1") == "name"


def test_a_dict_round_trips():
    customer = parse(phone="+55 11 98765-4321")
    assert Customer.from_dict(customer.to_dict()) == customer


def test_from_dict_validates_again():
    data = parse().to_dict() | {"document": "52998224724"}
    with pytest.raises(ValidationError) as caught:
        Customer.from_dict(data)
    assert caught.value.field == "document"
