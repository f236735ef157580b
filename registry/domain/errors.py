"""Domain errors. Each carries a stable ``code``; the HTTP layers decide the status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """``details`` go to the caller. ``reason`` (a finer code than ``code``) and ``context``
    are for the record only: the audit event a refusal leaves (registry.domain.refusals)."""

    code = "INTERNAL"
    reason: str | None = None

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        context: dict[str, Any] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if reason is not None:
            self.reason = reason
        self.context = context or {}


class InvalidArgument(DomainError):
    code = "INVALID_ARGUMENT"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    reason = "invalid_credentials"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"
    reason = "denied"


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class Conflict(DomainError):
    """The state changed underneath the caller, or forbids the change right now."""

    code = "CONFLICT"


class InvalidTransition(Conflict):
    """The stage graph has no edge from the version's stage to the one asked for."""

    reason = "invalid_move"


class PolicyViolation(DomainError):
    code = "POLICY_VIOLATION"
    reason = "policy_checks"

    def __init__(
        self,
        message: str,
        failed_checks: list[dict[str, Any]],
        *,
        context: dict[str, Any] | None = None,
        **details: Any,
    ):
        super().__init__(message, context=context, failed_checks=failed_checks, **details)
        self.failed_checks = failed_checks


class PreconditionFailed(DomainError):
    code = "PRECONDITION_FAILED"
