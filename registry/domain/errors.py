"""Domain errors. Each carries a stable ``code``; the HTTP layers decide the status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidArgument(DomainError):
    code = "INVALID_ARGUMENT"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class Conflict(DomainError):
    """The state changed underneath the caller, or forbids the change right now."""

    code = "CONFLICT"


class InvalidTransition(Conflict):
    """The stage graph has no edge from the version's stage to the one asked for."""


class PolicyViolation(DomainError):
    code = "POLICY_VIOLATION"

    def __init__(self, message: str, failed_checks: list[dict[str, Any]], **details: Any):
        super().__init__(message, failed_checks=failed_checks, **details)
        self.failed_checks = failed_checks


class PreconditionFailed(DomainError):
    code = "PRECONDITION_FAILED"
