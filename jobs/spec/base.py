"""The base of every spec the portal reads (jobs now; endpoints and deployments next).

YAML is parsed once into a ``Document`` that keeps the node tree, so a problem can be placed
at its line and column without reading the text again. ``Checker`` collects every problem
with its dotted field path; ``apply_overrides`` applies ``--set a.b=value`` pairs.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import yaml

MAX_SPEC_CHARS = 256 * 1024
# Levels of nested mappings and lists a spec may have (the real shape needs about six).
MAX_SPEC_DEPTH = 32
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class FieldError:
    """One problem in a spec: the dotted field path ("" for the document) and a sentence."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.message}"


class SpecError(Exception):
    """Raised with every problem found; ``errors`` is never empty."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


# --------------------------------------------------------------------------- YAML with positions


def load(text: str, what: str = "job file") -> tuple[Any, yaml.Node | None]:
    """Returns (data, node tree); raises SpecError for syntax errors and multiple documents."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(
            [FieldError("", f"the {what} is {len(text)} characters; the limit is "
                            f"{MAX_SPEC_CHARS}. Keep data out of the spec (use inputs)")]
        )  # fmt: skip
    # libyaml's loader when present: same nodes and marks, several times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        deep = _too_deep(node, MAX_SPEC_DEPTH)
        if deep is not None:
            raise SpecError(
                [FieldError("", f"the {what} nests lists and mappings more than "
                                f"{MAX_SPEC_DEPTH} levels deep; flatten it",
                            deep.start_mark.line + 1, deep.start_mark.column + 1)]
            )  # fmt: skip
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise SpecError(
            [FieldError("", f"the {what} is not valid YAML: {problem}; fix the syntax there",
                        mark.line + 1 if mark else None, mark.column + 1 if mark else None)]
        ) from None  # fmt: skip
    except yaml.YAMLError as exc:
        raise SpecError([FieldError("", f"the {what} is not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, node


def _too_deep(node: yaml.Node | None, limit: int) -> yaml.Node | None:
    """The first node nested more than ``limit`` collections deep, or None. Iterative (a
    deep document must not exhaust the stack before it is refused). A shared node (an
    alias) counts at every depth it is used at, as its data will; each node is looked at
    once per level, so alias bombs stay cheap."""
    level = [node] if node is not None else []
    reached: dict[int, int] = {}  # node id -> deepest level it was looked at
    depth = 0
    while level:
        depth += 1
        collections = []
        for n in level:
            if (
                isinstance(n, yaml.MappingNode | yaml.SequenceNode)
                and reached.get(id(n), 0) < depth
            ):
                reached[id(n)] = depth
                collections.append(n)
        if not collections:
            return None
        if depth > limit:
            return collections[0]
        level = []
        for collection in collections:
            if isinstance(collection, yaml.MappingNode):
                level.extend(value for pair in collection.value for value in pair)
            else:
                level.extend(collection.value)
    return None


def _walk(node: yaml.Node, path: str, seen: set[int]) -> Iterable[tuple[str, yaml.Node]]:
    """Yields (dotted path, key node) for every mapping entry under ``node``, once per node."""
    if id(node) in seen:  # aliases share nodes; visiting once keeps alias bombs cheap
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                yield child, key_node
                yield from _walk(value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, f"{path}.{index}", seen)


def marks_of(node: yaml.Node | None) -> dict[str, tuple[int, int]]:
    if node is None:
        return {}
    marks = {"": (node.start_mark.line + 1, node.start_mark.column + 1)}
    for path, key_node in _walk(node, "", set()):
        marks.setdefault(path, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
    return marks


def _duplicate_keys(node: yaml.Node | None) -> list[FieldError]:
    """PyYAML keeps the last of duplicate keys silently; the user meant one of them."""
    errors: list[FieldError] = []
    stack, seen = ([node] if node is not None else []), set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in keys:
                        mark = key_node.start_mark
                        errors.append(FieldError(
                            "", f"the key `{key_node.value}` appears twice in the same mapping; "
                                "keep only one", mark.line + 1, mark.column + 1))  # fmt: skip
                    keys.add(key_node.value)
                stack.append(value_node)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return errors


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def show(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"a {kind_of(value)}"
    return repr(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def scalar_text(value: str | int | float | bool | date) -> str:
    """Returns the text a scalar stands for: booleans as YAML spells them ("true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | date)


def override_value(text: Any) -> Any:
    """A --set value: numbers, booleans and null as YAML reads them; anything else verbatim.

    Verbatim because YAML would turn "echo a: b" into a mapping and drop "# comments".
    """
    if not isinstance(text, str):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, bool) and text.strip().lower() not in ("true", "false"):
        return text  # YAML 1.1 reads yes/no/on/off as booleans; nobody means that in --set
    if value is None or isinstance(value, bool | int | float):
        return value
    quoted = len(text) >= 2 and text[0] == text[-1] and text[0] in "'\""
    if quoted and isinstance(value, str):
        return value
    return text


# --------------------------------------------------------------------------- validation


@dataclass
class Document:
    """A parsed YAML mapping and its node tree, from which positions are read on demand."""

    data: dict
    node: yaml.Node | None = None

    @cached_property
    def marks(self) -> dict[str, tuple[int, int]]:
        """(line, column) of every dotted field path (computed once, when a problem needs it)."""
        return marks_of(self.node)


def load_mapping(text: str, what: str, fields: str = "") -> Document:
    """Returns the YAML mapping in ``text`` (``what`` names it in messages: "job file";
    ``fields`` gives examples of its fields for the message about a document of another kind).

    Raises SpecError when the text is not YAML (one FieldError with line and column), when it
    holds duplicate keys, more than one document, or a document that is not a mapping.
    """
    data, node = load(text, what)
    duplicates = _duplicate_keys(node)
    if duplicates:
        raise SpecError(duplicates)
    if not isinstance(data, dict):
        line = node.start_mark.line + 1 if node is not None else None
        column = node.start_mark.column + 1 if node is not None else None
        got = "an empty file" if data is None else f"a {kind_of(data)}"
        raise SpecError([FieldError("", f"a {what} must be a YAML mapping of fields{fields}, got {got}",
                                    line, column)])  # fmt: skip
    return Document(data, node)


class Checker:
    """Collects FieldErrors, placing each at the nearest known position in the YAML text."""

    def __init__(
        self,
        marks: dict[str, tuple[int, int]] | Callable[[], dict[str, tuple[int, int]]],
        overridden: Iterable[str],
    ):
        self._marks = marks
        self.overridden = tuple(overridden)
        self.errors: list[FieldError] = []

    @cached_property
    def marks(self) -> dict[str, tuple[int, int]]:
        return self._marks() if callable(self._marks) else self._marks

    def error(self, path: str, message: str) -> None:
        line = column = None
        # A value set by --set is not where the file says; pointing there would mislead.
        from_override = any(path == p or path.startswith(p + ".") for p in self.overridden)
        if not from_override:
            probe = path
            marks = self.marks
            while probe not in marks and probe:
                probe = probe.rpartition(".")[0]
            line, column = marks.get(probe, (None, None))
        self.errors.append(FieldError(path, message, line, column))

    def mapping(self, value: Any, path: str, what: str) -> dict | None:
        """Returns ``value`` as a dict ({} for null), or None after reporting a wrong type."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return value
        self.error(path, f"{path} must be a mapping of {what}, got {show(value)}")
        return None

    def keys(
        self,
        mapping: dict,
        path: str,
        known: Iterable[str],
        unsupported: Mapping[str, str] | None = None,
    ) -> None:
        known = tuple(known)
        for key in mapping:
            child = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                self.error(child, f"field names must be text, got {show(key)}")
            elif unsupported and key in unsupported:
                self.error(child, unsupported[key])
            elif key not in known:
                message = f"unknown field `{child}`; known fields here are: {', '.join(known)}"
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                if close:
                    message += f". Did you mean `{close[0]}`?"
                self.error(child, message)

    def text(self, value: Any, path: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.error(path, f"`{path}` is required")
            return None
        if not isinstance(value, str):
            self.error(path, f"{path} must be text, got {show(value)}")
            return None
        if required and not value.strip():
            self.error(path, f"`{path}` must not be empty")
            return None
        return value

    def integer(self, value: Any, path: str, *, low: int, high: int | None = None) -> int | None:
        if is_int(value) and value >= low and (high is None or value <= high):
            return value
        rule = f"an integer ≥ {low}" + (f" and ≤ {high}" if high is not None else "")
        self.error(path, f"{path} must be {rule}, got {show(value)}")
        return None

    def choice(self, value: Any, path: str, options: tuple[str, ...]) -> str | None:
        if value in options:
            return value
        self.error(path, f"{path} must be one of {', '.join(options)}, got {show(value)}")
        return None

    def names(self, mapping: dict | None, section: str) -> Iterable[tuple[str, Any, str]]:
        """Yields (name, value, path) for each valid input/output name, sorted by name."""
        seen: dict[str, str] = {}
        word = section.removesuffix("s")
        for name in sorted(mapping or {}, key=str):
            path = f"{section}.{name}"
            if not (isinstance(name, str) and IDENTIFIER.match(name)):
                self.error(path, f"{word} name `{name}` is not allowed; use letters, digits and "
                                 "underscores, not starting with a digit")  # fmt: skip
                continue
            if name.upper() in seen:  # both would become the same KP_<SECTION>_<NAME> variable
                self.error(path, f"{word} `{name}` differs from `{seen[name.upper()]}` only in "
                                 "case; rename one")  # fmt: skip
            seen[name.upper()] = name
            yield name, mapping[name], path

    def string_map(self, value: Any, path: str, *, key_rule: re.Pattern[str] | None) -> dict:
        mapping = self.mapping(value, path, "names to text values")
        result: dict[str, str] = {}
        for key, item in (mapping or {}).items():
            name = scalar_text(key) if is_scalar(key) else str(key)
            child = f"{path}.{name}"
            if key_rule is not None and not (isinstance(key, str) and key_rule.match(key)):
                self.error(child, f"`{name}` is not a valid environment variable name; use "
                                  "letters, digits and underscores, not starting with a digit")  # fmt: skip
                continue
            if item is None and key_rule is None:
                result[name] = ""  # a tag without a value is a plain label
            elif is_scalar(item):
                result[name] = scalar_text(item)
            else:
                self.error(child, f"{child} must be text, a number or a boolean, got {show(item)}")
        return result


def apply_overrides(raw: dict, overrides: Mapping[str, Any], check: Checker) -> dict:
    data = copy.deepcopy(raw)
    for key, text in overrides.items():
        parts = key.split(".") if isinstance(key, str) else []
        if not parts or any(not part for part in parts):
            check.error(str(key), f"`--set {key}=...` does not name a field; write a dotted path "
                                  "such as resources.instance_count=2")  # fmt: skip
            continue
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                check.error(
                    key, f"cannot set `{key}`: `{prefix}` is a {kind_of(child)}, not a mapping"
                )
                break
            node = child
        else:
            node[parts[-1]] = override_value(text)
    return data
