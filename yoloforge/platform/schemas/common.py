"""Shapes shared by every resource: names, visibility, pages of results, errors."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        min_length=1,
        max_length=64,
        description="1-64 letters, digits, '_', '.', '-', starting with a letter or digit (used in URLs).",
    ),
]
Description = Annotated[str, Field(max_length=10_000, description="Free text shown with the resource.")]
Visibility = Literal["private", "public"]

MAX_PAGE = 200


class PublicModel(BaseModel):
    """Base of responses: built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list: `items`, the `total` matching, and the `limit`/`offset` that cut this page."""

    items: list[T]
    total: int
    limit: int
    offset: int


class FieldError(BaseModel):
    """One invalid input: where (`loc`, e.g. ["body", "name"]), the dotted `field`, and what is wrong."""

    loc: list[str | int]
    field: str
    msg: str


class ErrorOut(BaseModel):
    """Every error: `detail` is one line naming the field or resource; `errors` lists each invalid input (422)."""

    detail: str
    errors: list[FieldError] | None = None


def example(value: dict[str, Any]) -> ConfigDict:
    """Model config carrying one JSON example (shown in /docs, sent by the isolation test)."""
    return ConfigDict(json_schema_extra={"examples": [value]})
