"""Text as pages show it: bidirectional controls made visible.

A name holding U+202E (right-to-left override) can make ``invoice‮fdp.exe`` read as
``invoiceexe.pdf``; the embedding, override and isolate controls (and the invisible
direction marks) are shown as ``⟨U+202E⟩`` in every HTML page and live fragment, while the
API returns what was stored.
"""

import re

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_FOUND = re.compile(f"[{BIDI_CONTROLS}]")
_VISIBLE = {ord(c): f"⟨U+{ord(c):04X}⟩" for c in BIDI_CONTROLS}


def neutralise(text: str) -> str:
    """``text`` with every bidirectional control replaced by its visible code point."""
    if _FOUND.search(text) is None:
        return text
    return text.translate(_VISIBLE)


class NeutraliseBidiMiddleware:
    """Applies ``neutralise`` to HTML responses (pages and htmx partials)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not response.streaming
            and response.get("Content-Type", "").startswith("text/html")
            and response.content
        ):
            charset = response.charset or "utf-8"
            text = response.content.decode(charset, errors="replace")
            shown = neutralise(text)
            if shown is not text:
                response.content = shown.encode(charset)
        return response
