"""Settings of one installation, read from the environment with a PAYLEDGER_ prefix.

Tests and embedding services pass `env={...}` instead of touching `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from payledger.adapters.store import DEFAULT_STORE_URL, Store, parse_store_url
from payledger.domain.commands import from_pydantic

PREFIX = "PAYLEDGER_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    store_url: str = DEFAULT_STORE_URL
    conflict_retries: Annotated[int, Field(ge=0, le=100)] = 10
    abandon_window_seconds: Annotated[int, Field(ge=60)] = 3600
    pix_expiry_seconds: Annotated[int, Field(ge=60)] = 86_400
    timezone: str = "America/Sao_Paulo"

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
