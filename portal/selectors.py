"""Reads of the portal app that are more than one filter."""

from datetime import UTC, datetime, time

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from portal.models import ApiToken, AuditRecord, Membership, Role

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


AUDIT_FILTERS = ("actor", "action", "object_type", "workspace", "since", "until", "q")


def audit_visible_to(user) -> QuerySet[AuditRecord]:
    """The audit records ``user`` may read, newest first: all for IT operations, their
    workspaces' for workspace admins, none for anyone else."""
    records = AuditRecord.objects.order_by("-at", "-pk")
    if not (user.is_authenticated and user.is_active):
        return records.none()
    if user.is_itops:
        return records
    admin_of = Membership.objects.filter(user=user, role=Role.ADMIN).values("workspace_id")
    return records.filter(workspace_id__in=admin_of)


def audit_may_read(user) -> bool:
    """Whether ``user`` may open the audit pages at all."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_itops or Membership.objects.filter(user=user, role=Role.ADMIN).exists())
    )


def audit_filter(records: QuerySet[AuditRecord], params) -> QuerySet[AuditRecord]:
    """``records`` narrowed by ``params`` (a mapping; see ``AUDIT_FILTERS``): exact actor,
    action, object type and workspace slug, ``since``/``until`` as ISO dates or times, ``q``
    in the object's name and the summary. Raises ValidationError naming a bad field."""
    errors = {}
    exact = {"actor": "actor_name", "action": "action", "object_type": "object_type"}
    for name, column in exact.items():
        value = (params.get(name) or "").strip()
        if len(value) > 200:
            errors[name] = "At most 200 characters."
        elif value:
            records = records.filter(**{column: value})
    slug = (params.get("workspace") or "").strip()
    if slug:
        records = records.filter(workspace_slug=slug[:63])
    for name, lookup in (("since", "at__gte"), ("until", "at__lte")):
        raw = (params.get(name) or "").strip()
        if not raw:
            continue
        moment = parse_datetime(raw) or _day(raw, end=name == "until")
        if moment is None:
            errors[name] = "Use an ISO date or time, e.g. 2026-12-01 or 2026-12-01T10:00:00Z."
            continue
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, UTC)
        records = records.filter(**{lookup: moment})
    text = (params.get("q") or "").strip()
    if len(text) > 200:
        errors["q"] = "At most 200 characters."
    elif text:
        records = records.filter(Q(object_name__icontains=text) | Q(summary__icontains=text))
    if errors:
        raise ValidationError(errors)
    return records


def _day(raw: str, *, end: bool) -> datetime | None:
    try:
        day = parse_date(raw)
    except ValueError:
        return None
    if day is None:
        return None
    return datetime.combine(day, time.max if end else time.min)
