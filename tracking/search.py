"""MLflow's search syntax for runs: ``metrics.loss < 0.5 and params.lr = '0.01' and
tags.team = 'a' and attributes.status = 'FINISHED'``, ``order_by`` and page tokens.

A filter becomes a Django ``Q`` of fixed lookups, keys and values bound as parameters: the
user's text chooses among the comparisons below, never names a lookup or a column.
"""

import base64
import json
import re

from django.db.models import Exists, F, OuterRef, Q, Subquery

from tracking.errors import invalid
from tracking.models import LatestMetric, Param, RunTag

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<ident>(?:[A-Za-z_]+\.)?(?:`[^`]*`|"[^"]*"|[\w./:\- ]+?))\s*
      (?P<op>!=|>=|<=|=|>|<|\bNOT\s+IN\b|\bIN\b|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b)\s*
      (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\((?:[^()'"]|'[^']*'|"[^"]*")*\)|[-+]?[\w.]+)
    )\s*(?:(?P<and>\bAND\b)|$)""",
    re.IGNORECASE | re.VERBOSE,
)
ENTITIES = {
    "metric": "metrics", "metrics": "metrics",
    "param": "params", "params": "params", "parameter": "params", "parameters": "params",
    "tag": "tags", "tags": "tags",
    "attribute": "attributes", "attributes": "attributes", "attr": "attributes", "run": "attributes",
    "dataset": "datasets", "datasets": "datasets",
}  # fmt: skip
ATTRIBUTES = {
    "status": "status", "run_name": "name", "start_time": "start_time", "end_time": "end_time",
    "run_id": "run_id", "user_id": "user_id", "lifecycle_stage": "lifecycle_stage",
    "created": "start_time", "Created": "start_time",
}  # fmt: skip
NUMERIC_ATTRIBUTES = {"start_time", "end_time"}
NUMERIC_OPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`\"'":
        return text[1:-1].replace("\\'", "'").replace('\\"', '"')
    return text


def _split_ident(ident: str) -> tuple[str, str]:
    ident = ident.strip()
    head, dot, rest = ident.partition(".")
    if dot and head.lower() in ENTITIES:
        return ENTITIES[head.lower()], _unquote(rest.strip())
    if ident in ATTRIBUTES:
        return "attributes", ident
    raise invalid(
        f"Invalid filter: '{ident}' is not 'metrics.<key>', 'params.<key>', 'tags.<key>' "
        "or 'attributes.<name>'."
    )


def _like(pattern: str) -> str:
    out = []
    for char in pattern:
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return "^" + "".join(out) + "$"


def _string_q(column: str, op: str, raw: str) -> Q:
    op = " ".join(op.upper().split())
    if op in ("IN", "NOT IN"):
        if not raw.startswith("("):
            raise invalid(f"Invalid filter: {op} needs a list like ('a', 'b'), got {raw}.")
        values = [_unquote(v.strip()) for v in re.findall(r"'[^']*'|\"[^\"]*\"", raw)]
        q = Q(**{f"{column}__in": values})
        return ~q if op == "NOT IN" else q
    if raw[:1] not in "'\"":
        raise invalid(f"Invalid filter: the value {raw} must be quoted, as in '{raw}'.")
    value = _unquote(raw)
    if op == "=":
        return Q(**{column: value})
    if op == "!=":
        return ~Q(**{column: value})
    if op == "LIKE":
        return Q(**{f"{column}__regex": _like(value)})
    if op == "ILIKE":
        return Q(**{f"{column}__iregex": _like(value)})
    if op == "NOT LIKE":
        return ~Q(**{f"{column}__regex": _like(value)})
    raise invalid(f"Invalid filter: {op} does not compare strings; use =, !=, LIKE, ILIKE or IN.")


def _number(raw: str) -> float:
    try:
        return float(_unquote(raw))
    except ValueError:
        raise invalid(f"Invalid filter: expected a number, got {raw}.") from None


def _clause(entity: str, key: str, op: str, raw: str) -> Q:
    op_upper = " ".join(op.upper().split())
    if entity == "metrics":
        if op_upper == "!=":
            rows = LatestMetric.objects.filter(run=OuterRef("pk"), key=key, is_nan=False)
            return Exists(rows.exclude(value=_number(raw)))
        if op_upper not in NUMERIC_OPS:
            raise invalid(f"Invalid filter: metrics compare with =, !=, <, <=, >, >=; got {op}.")
        lookup = {f"value__{NUMERIC_OPS[op_upper]}": _number(raw)}
        return Exists(
            LatestMetric.objects.filter(run=OuterRef("pk"), key=key, is_nan=False, **lookup)
        )
    if entity in ("params", "tags"):
        model = Param if entity == "params" else RunTag
        inner = _string_q("value", op, raw)
        return Exists(model.objects.filter(inner, run=OuterRef("pk"), key=key))
    if entity == "datasets":
        raise invalid("Invalid filter: datasets are not searchable here.")
    column = ATTRIBUTES.get(key)
    if column is None:
        raise invalid(
            f"Invalid filter: unknown attribute '{key}'; use {', '.join(sorted(set(ATTRIBUTES) - {'Created'}))}."
        )
    if column in NUMERIC_ATTRIBUTES:
        if op_upper == "!=":
            return ~Q(**{column: int(_number(raw))})
        if op_upper not in NUMERIC_OPS:
            raise invalid(f"Invalid filter: {key} compares with =, !=, <, <=, >, >=.")
        return Q(**{f"{column}__{NUMERIC_OPS[op_upper]}": int(_number(raw))})
    return _string_q(column, op, raw)


def parse_filter(text: str | None) -> Q:
    """``text`` as a Q over runs; raises INVALID_PARAMETER_VALUE naming the part at fault."""
    q = Q()
    text = (text or "").strip()
    if len(text) > 10000:
        raise invalid("The filter is longer than 10000 characters.")
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise invalid(f"Invalid filter near '{text[position : position + 40]}'.")
        entity, key = _split_ident(match["ident"])
        q &= _clause(entity, key, match["op"], match["value"].strip())
        position = match.end()
        if not match["and"] and position < len(text):
            raise invalid(
                f"Invalid filter near '{text[position : position + 40]}'; join clauses with AND."
            )
    return q


_ORDER = re.compile(r"^\s*(?P<ident>.+?)(?:\s+(?P<dir>ASC|DESC))?\s*$", re.IGNORECASE)


def order_terms(order_by) -> tuple[list, dict]:
    """Django ordering expressions for MLflow's ``order_by`` list (then start time, id),
    and the annotations they order by."""
    if order_by is None:
        order_by = []
    if isinstance(order_by, str):
        order_by = [order_by]
    terms = []
    annotations = {}
    for index, item in enumerate(order_by):
        match = _ORDER.match(str(item))
        if not match:
            raise invalid(f"Invalid order_by clause '{item}'.")
        entity, key = _split_ident(match["ident"])
        descending = (match["dir"] or "ASC").upper() == "DESC"
        if entity == "attributes":
            column = ATTRIBUTES.get(key)
            if column is None:
                raise invalid(f"Invalid order_by: unknown attribute '{key}'.")
            expression = F(column)
        else:
            model = {"metrics": LatestMetric, "params": Param, "tags": RunTag}.get(entity)
            if model is None:
                raise invalid(f"Invalid order_by: cannot order by {entity}.")
            alias = f"_order_{index}"
            annotations[alias] = Subquery(
                model.objects.filter(run=OuterRef("pk"), key=key).values("value")[:1]
            )
            expression = F(alias)
        terms.append(
            expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
        )
    terms += [F("start_time").desc(), F("id").desc()]
    return terms, annotations


def page_offset(token) -> int:
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(str(token).encode() + b"=="))["offset"]
        if not isinstance(value, int) or value < 0:
            raise ValueError
        return value
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise invalid(
            "Invalid page_token: pass the next_page_token of the previous page."
        ) from None


def next_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")
