"""Errors that end a run with a one-line cause and a documented exit status."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Documented exit statuses of every entry point (pytest run and CLI)."""

    HEALTHY = 0
    UNHEALTHY = 1
    COULD_NOT_CHECK = 2
    USAGE_ERROR = 4


class UsageError(Exception):
    """Bad input from the user: a malformed profile, an unknown option value."""


class CouldNotCheck(Exception):
    """The run cannot check anything (the AWS endpoint is unreachable): exit status 2."""


class ReadOnlyViolation(Exception):
    """A verify run tried an AWS call that is not a read."""


class DeletionRefused(Exception):
    """A perform run tried to delete, detach or release something: perform never deletes."""
