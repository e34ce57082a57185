"""Fetching objects for a request with the one access rule.

Something the user may not even view answers 404 (its existence is not
revealed); something they may view but not change answers 403.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404

from portal.models import Action


def get_for(queryset, user, action: str = Action.VIEW, **lookup):
    """Returns the object of ``queryset`` matching ``lookup`` that ``user`` may act on.

    ``queryset`` must offer ``visible_to(user, action)``; one query, whatever the action.
    Raises Http404 when the user may not view it (or it does not exist), PermissionDenied
    when they may view it but not perform ``action``.
    """
    found = queryset.visible_to(user, Action.VIEW).filter(**lookup)
    if action != Action.VIEW:  # asked in the same query
        allowed = queryset.model._default_manager.visible_to(user, action)
        found = found.annotate(action_allowed=Exists(allowed.filter(pk=OuterRef("pk"))))
    obj = found.first()
    if obj is None:
        raise Http404("Not found, or not shared with you.")
    if action != Action.VIEW and not obj.action_allowed:
        raise PermissionDenied(f"Your role does not allow you to {Action(action).label} here.")
    return obj


def is_htmx(request) -> bool:
    """True for requests made by htmx (which want a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"
