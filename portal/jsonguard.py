"""Reading JSON and YAML from strangers: nesting is capped, and nothing they send can make
the parser or the code after it recurse without bound.

Python's JSON decoder recurses once per level and raises ``RecursionError`` past about a
thousand; code that walks the result recursively (serializers, spec checkers) fails far
sooner under a deep stack. Both are refused here with a ``ValueError`` that says why.
"""

import json

MAX_DEPTH = 32  # levels of lists and objects in a request body


def depth_over(value, limit: int) -> bool:
    """True when ``value`` (parsed JSON or YAML: dicts, lists, scalars) nests lists and
    dicts more than ``limit`` levels deep. Iterative, and stops at the first level too deep.
    Shared references (YAML aliases) are walked once per level they appear at, and no
    further than ``limit``."""
    level = [value]
    depth = 0
    while level:
        containers = [v for v in level if isinstance(v, dict | list | tuple)]
        if not containers:
            return False
        depth += 1
        if depth > limit:
            return True
        level = []
        for container in containers:
            level.extend(container.values() if isinstance(container, dict) else container)
    return False


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """Returns the parsed JSON ``text``; raises ValueError for invalid JSON or JSON nested
    deeper than ``max_depth``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    if depth_over(value, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return value
