"""Which images run as local processes: an ordered list of glob patterns, first match wins.

The default covers Python images, the portal's own environments and helper images (the
code and input fetch step, the output upload step, the batch driver), and a few shell
images whose tools the host has.  Framework images map only when the sandbox interpreter
can import the framework.  ``--runtime-images 'PATTERN=local,PATTERN=simulate'`` puts
rules in front of the default; a pod's annotation ``kubesim.io/runtime`` wins over both.
"""

from __future__ import annotations

import fnmatch
import subprocess
from dataclasses import dataclass, field
from typing import Any

ANNOTATION = "kubesim.io/runtime"

DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    # Python and the portal's own environments and helpers.
    ("python:*", "local"),
    ("python", "local"),
    ("library/python:*", "local"),
    ("docker.io/library/python:*", "local"),
    ("kubeportal/*", "local"),
    ("*/kubeportal/*", "local"),
    ("curlimages/curl:*", "local"),
    ("docker.io/curlimages/curl:*", "local"),
    # Shell images: /bin/sh, tar, curl and coreutils come from the host.
    ("busybox:*", "local"),
    ("busybox", "local"),
    ("alpine:*", "local"),
    ("debian:*", "local"),
    ("ubuntu:*", "local"),
)

# image pattern -> module the sandbox interpreter must import for the image to map.
FRAMEWORKS: tuple[tuple[str, str], ...] = (
    ("pytorch/pytorch:*", "torch"),
    ("tensorflow/tensorflow:*", "tensorflow"),
    ("jupyter/scipy-notebook:*", "sklearn"),
)


def parse_rules(text: str) -> list[tuple[str, str]]:
    """Return the rules of a ``PATTERN=local,PATTERN=simulate`` flag value.

    Raises ValueError for a rule without ``=`` or with another mode.
    """
    rules = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        pattern, sep, mode = part.rpartition("=")
        if not sep or not pattern or mode not in ("local", "simulate"):
            raise ValueError(f"bad --runtime-images rule {part!r}: expected PATTERN=local|simulate")
        rules.append((pattern, mode))
    return rules


def _imports(python: str, module: str) -> bool:
    try:
        done = subprocess.run(
            [python, "-c", f"import {module}"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@dataclass
class ImageMap:
    """Ordered image rules; `mode_for(pod, image)` says how a container runs."""

    rules: list[tuple[str, str]] = field(default_factory=lambda: list(DEFAULT_RULES))

    @classmethod
    def from_flag(cls, text: str | None) -> ImageMap:
        """Return the default map with the flag's rules in front of it."""
        return cls(parse_rules(text or "") + list(DEFAULT_RULES))

    def with_frameworks(self, python: str) -> ImageMap:
        """Return this map plus the framework images `python` can serve (checked once)."""
        extra = [(pattern, "local") for pattern, module in FRAMEWORKS if _imports(python, module)]
        return ImageMap(self.rules + extra)

    def image_mode(self, image: str) -> str:
        """Return "local" or "simulate" for `image` by the first matching rule."""
        for pattern, mode in self.rules:
            if fnmatch.fnmatchcase(image, pattern):
                return mode
        return "simulate"

    def mode_for(self, pod: dict[str, Any], image: str) -> tuple[str, str]:
        """Return (mode, why) for a container of `pod` running `image`."""
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        chosen = str(annotations.get(ANNOTATION, "")).strip().lower()
        if chosen in ("local", "simulate"):
            return chosen, f"annotation {ANNOTATION}={chosen}"
        mode = self.image_mode(image)
        if mode == "local":
            return mode, "image in the runtime's image map"
        return mode, "image not in the runtime's image map"
