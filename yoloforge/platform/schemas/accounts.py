"""Users, sign-in and API keys."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from yoloforge.platform.schemas.common import Name, PublicModel, example
from yoloforge.platform.services.principal import expand_scopes

Scope = Literal["read", "train", "admin"]


class UserPublic(PublicModel):
    name: str
    is_admin: bool
    created_at: dt.datetime


class Me(UserPublic):
    """The caller: the account, how it authenticated (`key` or `session`) and the scopes it holds now."""

    via: str
    scopes: list[Scope]


class UserCreate(BaseModel):
    model_config = example({"name": "alice", "password": "correct horse battery", "is_admin": False})

    name: Name
    password: str = Field(min_length=8, max_length=1024, description="At least 8 characters.")
    is_admin: bool = False


class LoginIn(BaseModel):
    model_config = example({"name": "alice", "password": "correct horse battery"})

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class KeyCreate(BaseModel):
    model_config = example({"name": "laptop", "scope": "train"})

    name: str = Field(min_length=1, max_length=100, description="What the key is for, e.g. 'laptop' or 'ci'.")
    scope: Scope = Field("train", description="read: look; train: also create and change; admin: everything.")


class KeyPublic(PublicModel):
    """A key as listed: never the key itself, only its first characters."""

    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @field_validator("scopes", mode="before")
    @classmethod
    def _implied(cls, v: list[str]) -> list[str]:
        return sorted(expand_scopes(v), key=["read", "train", "admin"].index)


class KeyCreated(KeyPublic):
    """The answer to creating a key: the only time `key` is shown."""

    key: str
