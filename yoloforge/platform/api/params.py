"""Path parameters shared by routers, with their rules written once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from yoloforge.platform.schemas.common import NAME_PATTERN

OwnerPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description="The owner's user name.")]
ProjectPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description="The project's name.")]
DatasetPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description="The dataset's name.")]
ModelPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description="The model's name.")]
CheckpointKind = Annotated[
    str, Path(pattern=r"^(last|best|final|epoch\d{1,6})$", description="last, best, final or epochN.")
]
UserPath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64, description="An account's user name.")]
