"""Who a websocket belongs to: the user of its session cookie, read once when it connects.

Channels' ``AuthMiddlewareStack`` does the same but also wraps the socket's ``send`` to save a
session the consumer might have changed, a check that runs for every frame; a live socket
never writes its session, so this middleware wraps nothing.
"""

from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie

from portal.db import off_loop


def _cookies(scope) -> dict[str, str]:
    """The cookies of the handshake, parsed as Django parses a request's."""
    cookies: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            cookies.update(parse_cookie(value.decode("latin-1")))
    return cookies


def user_for(session_key: str | None):
    """The user of the session ``session_key`` (anonymous when none or expired), checked as
    Django checks a request's (including the password-change session hash)."""
    if not session_key:
        return AnonymousUser()
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return get_user(SimpleNamespace(session=store))


class SessionUserMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if "user" not in scope:  # tests may set it
            key = _cookies(scope).get(settings.SESSION_COOKIE_NAME)
            scope = dict(scope, user=await off_loop(user_for)(key))
        return await self.inner(scope, receive, send)
