"""Who is calling from where, and how often they may fail or call.

Failed credentials (wrong passwords, unknown or revoked tokens) are counted per client
address in fixed windows of ``AUTH_FAILURE_WINDOW`` seconds: past ``AUTH_FAILURES_PER_ADDRESS``
in a window, that address's further sign-in attempts are refused until the window ends.
(Locking one username from one address after ``LOGIN_FAILURE_LIMIT`` wrong passwords is
django-axes's job; this counter stops spraying many usernames or tokens from one address.)

Valid callers of the API get ``API_CALLS_PER_MINUTE`` calls per minute per token (or
session user), high enough that scripts, benchmarks and tracking clients never meet it.

Counters live in the cache (Redis in production, shared by every process; per process in
the embedded mode): one ``incr`` per counted event, no history kept.
"""

import ipaddress
import time

from django.conf import settings
from django.core.cache import cache

UNKNOWN_ADDRESS = "0.0.0.0"


def client_address(request) -> str:
    """The caller's address: ``REMOTE_ADDR``, or with ``PROXY_COUNT`` trusted proxies in
    front, the address the outermost of them saw (read from the right of
    ``X-Forwarded-For``, so a client cannot choose it)."""
    # Without an address (a request built in-process, e.g. a forced login) the unspecified
    # address stands in: the login log stores addresses in an address column.
    address = request.META.get("REMOTE_ADDR") or UNKNOWN_ADDRESS
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        address = UNKNOWN_ADDRESS
    hops = settings.PROXY_COUNT
    if hops:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
            try:
                address = str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return address


def _window(seconds: int) -> tuple[int, int]:
    """(the current window's number, seconds left in it)."""
    now = int(time.time())
    return now // seconds, seconds - now % seconds


def _count(key: str, seconds: int) -> int:
    """Adds one to ``key`` (which expires with its window); returns the new count."""
    cache.add(key, 0, timeout=seconds + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=seconds + 1)
        return 1


class Refused(Exception):
    """Too many of something; ``wait`` seconds until it is allowed again."""

    def __init__(self, message: str, wait: int):
        super().__init__(message)
        self.message = message
        self.wait = wait


def _failure_key(address: str) -> tuple[str, int]:
    seconds = settings.AUTH_FAILURE_WINDOW
    number, left = _window(seconds)
    return f"authfail:{number}:{address}", left


def failures_refused(address: str) -> Refused | None:
    """A Refused saying so when ``address`` has failed too often in this window, else None."""
    limit = settings.AUTH_FAILURES_PER_ADDRESS
    if not limit:
        return None
    key, left = _failure_key(address)
    if (cache.get(key) or 0) < limit:
        return None
    minutes = max(1, round(settings.AUTH_FAILURE_WINDOW / 60))
    return Refused(
        f"Too many failed sign-ins from your address ({limit} within {minutes} minutes); "
        f"try again in {left} seconds.",
        left,
    )


def note_failure(address: str) -> None:
    """Counts one failed sign-in (password or token) from ``address``."""
    if settings.AUTH_FAILURES_PER_ADDRESS:
        key, _left = _failure_key(address)
        _count(key, settings.AUTH_FAILURE_WINDOW)


def call_refused(caller: str) -> Refused | None:
    """Counts one API call of ``caller`` (a token or user key); a Refused when it is over
    ``API_CALLS_PER_MINUTE`` in this minute, else None."""
    limit = settings.API_CALLS_PER_MINUTE
    if not limit:
        return None
    number, left = _window(60)
    if _count(f"apicalls:{number}:{caller}", 60) <= limit:
        return None
    return Refused(f"More than {limit} API calls in a minute; slow down for {left} seconds.", left)
