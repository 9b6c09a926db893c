"""The customer a charge is billed to, and the Brazilian tax documents that identify one.

`Customer` is the one shape in payledger that carries personal data (name, e-mail,
phone, CPF/CNPJ). Under the LGPD, field encryption or crypto-shredding for erasure can be
added here later without touching the aggregates that embed it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from payledger.domain.errors import ValidationError
from payledger.domain.text import clean_line

_DOCUMENT_PUNCTUATION = re.compile(r"[.\-/\s]")
_CPF = re.compile(r"[0-9]{11}")
_CNPJ = re.compile(r"[0-9A-Z]{12}[0-9]{2}")
_CPF_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def _strip_document(value: str) -> str:
    return _DOCUMENT_PUNCTUATION.sub("", value).upper()


def _check_digit(values: Sequence[int], weights: Sequence[int]) -> int:
    remainder = sum(value * weight for value, weight in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def _has_check_digits(document: str, weights: Sequence[int]) -> bool:
    """Whether the last two characters are the mod-11 check digits of the others.

    Each character counts as `ord(char) - 48`: its digit for 0-9, and 17-42 for A-Z,
    as the alphanumeric CNPJ defines it (IN RFB 2.229/2024).
    """
    values = [ord(char) - 48 for char in document[:-2]]
    first = _check_digit(values, weights)
    second = _check_digit([*values, first], (weights[0] + 1, *weights))
    return document[-2:] == f"{first}{second}"


def is_valid_cpf(value: str) -> bool:
    """Whether `value` is a CPF: 11 digits, once punctuation is removed, with check digits."""
    document = _strip_document(value)
    if not _CPF.fullmatch(document) or len(set(document)) == 1:
        return False
    return _has_check_digits(document, _CPF_WEIGHTS)


def is_valid_cnpj(value: str) -> bool:
    """Whether `value` is a CNPJ, numeric or alphanumeric (in force from July 2026).

    Once punctuation is removed and letters are upper-cased: 12 characters [0-9A-Z],
    then 2 decimal check digits.
    """
    document = _strip_document(value)
    if not _CNPJ.fullmatch(document) or len(set(document)) == 1:
        return False
    return _has_check_digits(document, _CNPJ_WEIGHTS)


def document_kind(value: str) -> Literal["cpf", "cnpj"]:
    """Return which document `value` is, or raise if it is neither a CPF nor a CNPJ."""
    if is_valid_cpf(value):
        return "cpf"
    if is_valid_cnpj(value):
        return "cnpj"
    raise ValidationError("document", "is neither a valid CPF nor a valid CNPJ")


def normalize_document(value: str) -> str:
    """Return a valid CPF or CNPJ as digits and upper-case letters only, or raise."""
    document_kind(value)
    return _strip_document(value)


_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_EMAIL_MAX = 254
_PHONE_PUNCTUATION = re.compile(r"[\s\-()]")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
_COUNTRY_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
_COUNTRIES = frozenset(_COUNTRY_CODES.split())
"""The 249 officially assigned ISO 3166-1 alpha-2 codes."""


class CustomerData(TypedDict):
    """A `Customer` as plain strings (`Customer.to_dict`), as events and aggregates keep it."""

    name: str
    email: str
    phone: str | None
    country: str
    document: str | None


class Customer(BaseModel):
    """Who a charge is billed to: the one shape carrying personal data (LGPD).

    Build it with `Customer.parse(...)` (or `from_dict`), which reports any rejected
    input as a `payledger.domain.errors.ValidationError` naming the field.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str
    phone: str | None = None
    country: str = "BR"
    document: str | None = Field(default=None, validate_default=True)

    @field_validator("name", "email")
    @classmethod
    def _check_clean(cls, value: str) -> str:
        """No control, bidirectional-override or surrogate character (domain/text.py)."""
        try:
            return clean_line(value)
        except ValidationError as error:
            raise PydanticCustomError("text", error.reason) from None

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        email = value.lower()
        if len(email) > _EMAIL_MAX or not _EMAIL.fullmatch(email):
            raise PydanticCustomError("email", "must be an address like name@example.com")
        return email

    @field_validator("phone")
    @classmethod
    def _check_phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        phone = _PHONE_PUNCTUATION.sub("", value)
        if not _E164.fullmatch(phone):
            raise PydanticCustomError("phone", "must be E.164: '+' and 8 to 15 digits")
        return phone

    @field_validator("country")
    @classmethod
    def _check_country(cls, value: str) -> str:
        country = value.upper()
        if country not in _COUNTRIES:
            raise PydanticCustomError("country", "must be an ISO 3166 alpha-2 code")
        return country

    @field_validator("document")
    @classmethod
    def _check_document(cls, value: str | None, info: ValidationInfo) -> str | None:
        # `country` is declared first, so it is validated by now.
        if value is None:
            if info.data.get("country") == "BR":
                raise PydanticCustomError("document", "a CPF or CNPJ is required in BR")
            return None
        try:
            return normalize_document(value)
        except ValidationError as error:
            raise PydanticCustomError("document", error.reason) from None

    @classmethod
    def parse(cls, **fields: object) -> Customer:
        """Validate `fields` into a Customer, raising our ValidationError on the first fault."""
        try:
            return cls.model_validate(fields)
        except PydanticValidationError as error:
            first = error.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "customer"
            raise ValidationError(field, first["msg"]) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Customer:
        """Rebuild a Customer from `to_dict` output, validating it again."""
        return cls.parse(**data)

    def to_dict(self) -> CustomerData:
        """The customer as plain strings, for an event body."""
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "country": self.country,
            "document": self.document,
        }


def complete_cpf(base: str) -> str:
    """The CPF whose first nine digits are `base` (test data and the demo make buyers)."""
    values = [int(char) for char in base]
    first = _check_digit(values, _CPF_WEIGHTS)
    second = _check_digit([*values, first], (11, *_CPF_WEIGHTS))
    return f"{base}{first}{second}"
