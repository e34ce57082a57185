"""The one check of a personal token, used by the API's authentication and by anything
else that takes ``Authorization: Bearer kp_…`` (the tracking API reuses it).

A token is refused when unknown, revoked or past its expiry, or when its user is
deactivated; every refusal counts against the caller's address (``portal.throttle``), and
an address over its limit is refused at once for unknown tokens (valid tokens cannot be
guessed, so they still pass: one person's bad script does not lock out the others behind
the same address).
"""

from django.utils import timezone

from portal import throttle
from portal.models import ApiToken, hash_token

LAST_USED_EVERY = 60  # seconds: last use is written at most this often per token


class TokenRefused(Exception):
    """The token does not sign anyone in; ``message`` says what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def token_check(raw: str, *, address: str) -> ApiToken:
    """Returns the active token ``raw`` (its ``user`` loaded) and records its use; raises
    ``throttle.Refused`` when ``address`` failed too often, TokenRefused otherwise."""
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
    now = timezone.now()
    problem = None
    if token is None or token.revoked_at is not None:
        problem = "Invalid or revoked token. Create a new one under Account → API tokens."
    elif token.expired:
        problem = (
            f"This token expired on {token.expires_at:%Y-%m-%d}. "
            "Create a new one under Account → API tokens."
        )
    elif not token.user.is_active:
        problem = "This token's user is deactivated."
    if problem is not None:
        refused = throttle.failures_refused(address)
        if refused is not None:
            raise refused
        throttle.note_failure(address)
        raise TokenRefused(problem)
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
