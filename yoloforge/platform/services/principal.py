"""Who is asking: a user, how they authenticated, and the scopes granted (`read` < `train` < `admin`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yoloforge.platform.db import User

SCOPES = ("read", "train", "admin")  # each implies the ones before it


def expand_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes granted by `scopes`, with the implied lower ones: ['train'] -> {'read', 'train'}."""
    top = max((SCOPES.index(s) for s in scopes if s in SCOPES), default=-1)
    return frozenset(SCOPES[: top + 1])


@dataclass(frozen=True)
class Principal:
    """The caller of one request. `via` is 'key', 'session' or 'link' (a signed download link)."""

    user: User
    scopes: frozenset[str]
    via: str
    key_id: int | None = None
    bound_model_id: int | None = None  # a training job's token: the one model it may write to

    @property
    def is_admin(self) -> bool:
        """Admin powers need both an admin account and a credential carrying the `admin` scope."""
        return self.user.is_admin and "admin" in self.scopes

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def can_see(self, owner_id: int, visibility: str) -> bool:
        """Reads: your own, public ones, or anything for an admin."""
        return owner_id == self.user.id or visibility == "public" or self.is_admin

    def can_change(self, owner_id: int) -> bool:
        """Writes: your own, or anything for an admin."""
        return owner_id == self.user.id or self.is_admin


def session_scopes(user: User) -> frozenset[str]:
    """A signed-in browser acts with every scope its user may hold."""
    return expand_scopes(["admin" if user.is_admin else "train"])
