"""The object store (``Store``) and the change events (``WatchEvent``) it emits."""

from kubesim.errors import ApiError
from kubesim.objects import now_rfc3339
from kubesim.store.core import Store, WatchEvent

__all__ = ["ApiError", "Store", "WatchEvent", "now_rfc3339"]
