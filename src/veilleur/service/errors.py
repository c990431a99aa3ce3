"""What a use case refuses, in the service's own words: the REST API maps each to its status
code (`veilleur.app` answers them as JSON `{"detail": message}`), the console to its message."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal; `message` is shown to the caller as it is."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """No such thing, or not in the caller's scope (answered alike, SPEC S9): 404."""

    status = 404


class Conflict(ServiceError):
    """The thing exists already, or its state forbids the change (qualified twice): 409."""

    status = 409


class Invalid(ServiceError):
    """A value the rules refuse: 422. `key` names the field when there is one."""

    status = 422

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key
