"""Job filters shared by the list page and the API."""

import django_filters
from django.db import connections
from django.db.models import Q
from django.db.models.fields.json import KeyTransform

from jobs.models import Job, Status

MAX_FILTER_CHARS = 200  # longer searches and tags are refused (400 naming the field)


class JobFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    experiment = django_filters.CharFilter(field_name="experiment_name")
    compute = django_filters.CharFilter(field_name="compute__name")
    created_by = django_filters.CharFilter(field_name="created_by__username")
    tag = django_filters.CharFilter(
        method="filter_tag", max_length=MAX_FILTER_CHARS, help_text="key=value, or key alone"
    )
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=MAX_FILTER_CHARS,
        help_text="name, display name or experiment contains",
    )
    ordering = django_filters.OrderingFilter(
        fields=(
            ("created_at", "created_at"),
            ("name", "name"),
            ("status", "status"),
            ("experiment_name", "experiment"),
        )
    )

    class Meta:
        model = Job
        fields = ["status", "experiment", "compute", "created_by", "tag", "search"]

    def filter_tag(self, queryset, name, value):
        """Jobs tagged ``key`` (with ``value``). The key is a value in the query, never part
        of a lookup: ``a__contains=b`` is the tag called "a__contains"."""
        key, sep, wanted = value.partition("=")
        if not sep:
            return queryset.filter(tags__has_key=key)
        # PostgreSQL answers containment from a GIN index; SQLite has no containment lookup.
        if connections[queryset.db].vendor == "postgresql":
            return queryset.filter(tags__contains={key: wanted})
        return (
            queryset.filter(tags__has_key=key)
            .alias(_tag=KeyTransform(key, "tags"))
            .filter(_tag=wanted)
        )

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value)
            | Q(display_name__icontains=value)
            | Q(experiment_name__icontains=value)
        )
