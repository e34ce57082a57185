"""How a spec refers to an uploaded code archive: ``portal:code/<sha256>`` (no Django here:
the command-line client reads specs too)."""

import re

CODE_REF_PREFIX = "portal:code/"
CODE_REF = re.compile(r"^portal:code/([0-9a-f]{64})$")


def code_reference(sha256: str) -> str:
    """Returns the ``code`` value that refers to an uploaded archive: "portal:code/<sha256>"."""
    return f"{CODE_REF_PREFIX}{sha256}"
