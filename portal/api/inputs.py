"""What the API accepts in paths, paging and bodies, checked before it reaches a query:
bad input is a 400 naming the field, never a 500 from the database or the parser."""

from rest_framework import exceptions, pagination, parsers

from portal import jsonguard

MAX_ID = 2**63 - 1  # the largest id a database column holds
MAX_LIMIT = 1000  # a page never holds more rows than this, whatever ``limit`` asks
MAX_OFFSET = 10**9
MAX_INT = 2_147_483_647  # the integer columns (quotas, counts)


def whole_number(raw, field: str, *, minimum: int = 0, maximum: int = MAX_ID) -> int:
    """``raw`` read as a whole number within [minimum, maximum]; a ValidationError naming
    ``field`` otherwise."""
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 19 or not minimum <= int(text) <= maximum:
        raise exceptions.ValidationError(
            {field: [f"Give a whole number from {minimum} to {maximum}."]}
        )
    return int(text)


class NumericLookup:
    """For viewsets whose objects are found by numeric id: a path id that is not one is a
    400 naming ``id`` (checked after authentication, so strangers still get 401)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = self.lookup_url_kwarg or self.lookup_field
        if key == "pk" and key in kwargs:
            whole_number(kwargs[key], "id", minimum=1)


class Pagination(pagination.LimitOffsetPagination):
    """``?limit`` (at most MAX_LIMIT, larger asks get MAX_LIMIT) and ``?offset``; anything
    that is not a whole number in range is a 400 naming the parameter."""

    max_limit = MAX_LIMIT

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or raw == "":
            return self.default_limit
        text = raw.strip()
        if not text.isdigit() or int(text) < 1:
            raise exceptions.ValidationError(
                {self.limit_query_param: [f"Give a whole number from 1 to {MAX_LIMIT}."]}
            )
        return min(int(text), MAX_LIMIT)

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None or raw == "":
            return 0
        return whole_number(raw, self.offset_query_param, maximum=MAX_OFFSET)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with nesting capped (``jsonguard``): a body nested deeper than
    ``jsonguard.MAX_DEPTH`` is a 400, not a RecursionError."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return jsonguard.loads(stream.read().decode(encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}") from None
