"""Domain errors raised by services. The API and the staff UI translate them, each in one place."""


class DomainError(Exception):
    """Base class of every failure a service reports on purpose."""


class ValidationFailed(DomainError):
    """Input breaks a rule. `details` maps a field name to Lago error codes."""

    def __init__(self, details: dict[str, list[str]]):
        super().__init__(details)
        self.details = details


class NotFound(DomainError):
    """The resource does not exist in the caller's organization."""

    def __init__(self, resource: str):
        super().__init__(f"{resource}_not_found")
        self.resource = resource

    @property
    def code(self) -> str:
        return f"{self.resource}_not_found"


class NotAllowed(DomainError):
    """The action is not allowed in the current state (Lago's 405)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
