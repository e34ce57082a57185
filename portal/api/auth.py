"""Personal token authentication (``Authorization: Bearer kp_...`` or ``Token kp_...``) and
the rate every valid caller gets. A read-only token gets 403 on every method but GET,
HEAD and OPTIONS."""

from rest_framework import authentication, exceptions, permissions, throttling

from portal import throttle
from portal.models import ApiToken
from portal.tokens import TokenRefused, token_check


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Bearer <token>'."
            )
        raw = header[1].decode(errors="replace")
        try:
            token = token_check(raw, address=throttle.client_address(request))
        except throttle.Refused as refused:
            raise exceptions.Throttled(wait=refused.wait, detail=refused.message) from None
        except TokenRefused as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        if token.read_only and request.method not in permissions.SAFE_METHODS:
            # refused here, before any view, so no endpoint can forget it
            raise exceptions.PermissionDenied(
                f"Token “{token.name}” is read-only: it cannot {request.method} here. "
                "Use a token with full scope."
            )
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class CallerRateThrottle(throttling.BaseThrottle):
    """``PORTAL_API_CALLS_PER_MINUTE`` per token (or per signed-in user without one)."""

    def allow_request(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return True  # refused elsewhere; failures are counted by address
        auth = request.auth
        caller = f"token:{auth.key_hash[:24]}" if isinstance(auth, ApiToken) else f"user:{user.pk}"
        refused = throttle.call_refused(caller)
        if refused is not None:
            raise exceptions.Throttled(wait=refused.wait, detail=refused.message)
        return True
