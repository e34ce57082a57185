"""Signing in with a password: the address limit, and what a locked-out person is told.

Two limits apply (README, "Sign-in protection"): django-axes locks one username from one
address after ``LOGIN_FAILURE_LIMIT`` wrong passwords for ``LOGIN_LOCKOUT_MINUTES`` (the
pair, so one person's typos never lock out the others behind the same address), and
``portal.throttle`` refuses every sign-in from an address that failed
``AUTH_FAILURES_PER_ADDRESS`` times in a window, whatever the usernames.
"""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from portal import throttle


class AddressLimitBackend(ModelBackend):
    """First of the authentication backends: refuses every password check from an address
    over its failure limit (the login page says why; the admin's login just fails). It
    signs nobody in itself; it loads session users as Django's model backend does, since
    the first backend is the one sessions made without a password name."""

    def authenticate(self, request, **credentials):
        if request is not None:
            refused = throttle.failures_refused(throttle.client_address(request))
            if refused is not None:
                request.signin_refused = refused
                raise PermissionDenied(refused.message)
        return None


def count_failed_login(sender, credentials, request=None, **kwargs) -> None:
    """``user_login_failed`` receiver: counts the failure against the caller's address."""
    if request is not None and not getattr(request, "signin_refused", None):
        throttle.note_failure(throttle.client_address(request))


def lockout_response(request, original_response=None, credentials=None):
    """What django-axes answers once a username is locked out from this address: the login
    page with a sentence saying for how long, status 429."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    message = (
        f"Too many wrong passwords for this username from your address "
        f"({settings.LOGIN_FAILURE_LIMIT}); it is locked here for {minutes} minutes. "
        "Other people and other addresses are not affected."
    )
    return render(request, "registration/login.html", {"refused": message}, status=429)
