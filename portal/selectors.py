"""Reads of the portal app that are more than one filter."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from portal.models import ApiToken

TOKEN_STATES = ("active", "expired", "revoked")


def token_list_all(*, username: str = "", state: str = "") -> QuerySet[ApiToken]:
    """Every user's personal tokens, newest first, optionally of one user (exact username)
    and in one state (``TOKEN_STATES``); raises ValidationError naming ``state`` for any
    other state. For IT operations only: callers check."""
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    if username:
        tokens = tokens.filter(user__username=username[:150])
    now = timezone.now()
    if state == "active":
        tokens = tokens.active()
    elif state == "expired":
        tokens = tokens.filter(revoked_at__isnull=True, expires_at__lte=now)
    elif state == "revoked":
        tokens = tokens.filter(revoked_at__isnull=False)
    elif state:
        raise ValidationError({"state": f"Choose one of {', '.join(TOKEN_STATES)}."})
    return tokens
