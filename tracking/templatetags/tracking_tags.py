"""Template filters of the tracking pages."""

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

register = template.Library()


@register.filter
def ms_date(value) -> str:
    """MLflow's milliseconds since the epoch as the studio prints times."""
    if value in (None, ""):
        return ""
    try:
        moment = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return date_format(timezone.localtime(moment), "Y-m-d H:i:s")
