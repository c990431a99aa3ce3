"""Who may do what: the roles, the caller of a use case, and the two refusals (SPEC S9, S11).

Plain data, no web framework: the REST API and the console check the same roles through
`veilleur.http.auth.allow`, and the service layer takes the `Caller` as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass

OPERATOR = "operator"
SUPERVISOR = "supervisor"
ADMINISTRATOR = "administrator"
AUDITOR = "auditor"
ROLES: tuple[str, ...] = (OPERATOR, SUPERVISOR, ADMINISTRATOR, AUDITOR)

#: Read signals and statistics (the auditor sees no image).
READ = ROLES
#: See live images and media, qualify signals.
WATCH = (OPERATOR, SUPERVISOR, ADMINISTRATOR)
#: Start and stop processing.
CONTROL = (SUPERVISOR, ADMINISTRATOR)
#: Cameras, zones, situations, users.
ADMIN = (ADMINISTRATOR,)
#: Read the journal (SPEC S7).
JOURNAL = (ADMINISTRATOR, AUDITOR)

ROLE_HELP = {
    OPERATOR: "sees the live wall and signals, qualifies signals",
    SUPERVISOR: "an operator who can also stop and start processing",
    ADMINISTRATOR: "a supervisor who can also manage cameras, zones, situations and users",
    AUDITOR: "reads signals, statistics and the journal, sees no image",
}


@dataclass(frozen=True)
class Caller:
    """The logged-in user of a request, as plain data (the database session is gone after)."""

    user_id: int
    username: str
    role: str
    csrf_token: str
    service: str | None = None
    """The account's service; None: not scoped to one (sees every camera)."""
    may_view_unblurred: bool = False

    def may(self, roles: tuple[str, ...]) -> bool:
        return self.role in roles

    def sees_camera(self, services: list[str] | None) -> bool:
        """Whether a camera whose `services` are these is in this caller's scope (S9)."""
        return self.service is None or self.service in (services or [])


class LoginRequired(Exception):
    """No valid session: the API answers 401, console pages redirect to the login page."""


class Forbidden(Exception):
    """The caller's role may not do this: 403 (a page for the console, JSON for the API)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
