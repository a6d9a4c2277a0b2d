"""Errors raised by services; the API turns each into its HTTP status with `{"detail": message}`."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: `status` is the HTTP status the API answers with; `field` names the input at fault, if any."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


class Unauthorized(ServiceError):
    """No credentials, or credentials that are not (or no longer) valid."""

    status = 401


class Forbidden(ServiceError):
    """Valid credentials without the right: a missing scope, or a change to someone else's public resource."""

    status = 403


class NotFound(ServiceError):
    """Missing, or private to another account (the two are indistinguishable on purpose)."""

    status = 404


class Conflict(ServiceError):
    """The name is taken."""

    status = 409


class TooLarge(ServiceError):
    """An upload over a size limit."""

    status = 413


class Invalid(ServiceError):
    """Well-formed input the rules refuse (e.g. a dataset whose archive has no images)."""

    status = 422


class PaymentRequired(ServiceError):
    """The account's balance is too low for what was asked (start or resume a job on a paid GPU type)."""

    status = 402
