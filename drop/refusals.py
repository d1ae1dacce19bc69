"""Why the domain refuses a request: the errors every layer below the web raises.

Domain code says what is wrong (not found, gone, in conflict...) and never how HTTP spells
it; drop/web/errors.py maps each kind to its status once (`add_refusal_handler`), so the
API's JSON and the page's HTML answer it as they answer any other error.
"""

from __future__ import annotations


class Refused(Exception):
    """A request the domain will not carry out; `description` says why, to the client."""

    def __init__(self, description: str | None = None):
        super().__init__(description or self.__class__.__name__)
        self.description = description


class Invalid(Refused):
    """The request is malformed or a value is out of range (400)."""


class NotFound(Refused):
    """Nothing by that name or id, and never was as far as anyone may know (404)."""


class Gone(Refused):
    """It was there and has ended: expired, terminated, deleted (410)."""


class Conflict(Refused):
    """It exists, but its state forbids this now (409)."""


class TooLarge(Refused):
    """More bytes than this server accepts for it (413)."""


class Withheld(Refused):
    """The operator has withheld it: its content is blocked (451)."""
