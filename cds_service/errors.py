"""App layer: the one exception tree; each class maps to one HTTP status and one FHIR OperationOutcome."""

from __future__ import annotations

from typing import Any, ClassVar


class CdsServiceError(Exception):
    """Base of every error the HTTP edge turns into a response. Messages never carry PHI or tokens."""

    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"  # FHIR issue-type code
    severity: ClassVar[str] = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def operation_outcome(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.issue_code, "diagnostics": self.message}
        if self.field:
            issue["expression"] = [self.field]
            issue["details"] = {"text": f"{self.field}: {self.message}"}
        return {"resourceType": "OperationOutcome", "issue": [issue]}


class BadRequestError(CdsServiceError):
    """The request body is not a valid CDS Hooks request; `field` names the wire path at fault."""

    status = 400
    issue_code = "invalid"


class UnauthorizedError(CdsServiceError):
    """Client authentication failed. The body never says why (CDS Hooks best practice)."""

    status = 401
    issue_code = "login"

    def __init__(self, message: str = "unauthorized") -> None:
        super().__init__(message)

    def operation_outcome(self) -> dict[str, Any]:
        return {"resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "login", "diagnostics": "unauthorized"}]}


class NotFoundError(CdsServiceError):
    """No such service or route."""

    status = 404
    issue_code = "not-found"


class MethodNotAllowedError(CdsServiceError):
    status = 405
    issue_code = "not-supported"


class PayloadTooLargeError(CdsServiceError):
    status = 413
    issue_code = "too-costly"


class UnsupportedMediaTypeError(CdsServiceError):
    status = 415
    issue_code = "not-supported"


class PreconditionFailedError(CdsServiceError):
    """Required data could be had neither from prefetch nor from the FHIR server (CDS Hooks 412)."""

    status = 412
    issue_code = "incomplete"


class ServiceUnavailableError(CdsServiceError):
    """A dependency of the service itself (store, configuration) is not usable."""

    status = 503
    issue_code = "transient"


class InternalError(CdsServiceError):
    """Anything unexpected; the detail goes to the log (without PHI), never to the client."""

    status = 500
    issue_code = "exception"

    def __init__(self, message: str = "internal error; see the service log for this hookInstance") -> None:
        super().__init__(message)


class SettingsError(Exception):
    """Invalid process settings or configuration at start-up; the message says what and where."""
