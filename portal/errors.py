"""Errors that services of every app raise and views turn into answers."""


class Conflict(Exception):
    """The request clashes with the current state (a name taken, a finished job cancelled)."""
