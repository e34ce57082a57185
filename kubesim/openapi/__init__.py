"""OpenAPI schemas of the served kinds: the documents kubectl reads, and the server-side
field validation that uses the same schemas."""

from __future__ import annotations

from kubesim.openapi.schemas import package
from kubesim.resources import ResourceType
from kubesim.store import Store

from . import documents, validate

__all__ = ["OpenApi"]

CRDS = "customresourcedefinitions.apiextensions.k8s.io"


class OpenApi:
    """Builds each group version's document once per change of the kinds served there."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], tuple[tuple, dict | None]] = {}

    def _crd(self, rt: ResourceType) -> dict | None:
        return self.store.peek(CRDS, f"{rt.plural}.{rt.group}")

    def _signature(self, group: str, version: str) -> tuple:
        parts = []
        for rt in self.store.resources.in_group_version(group, version):
            crd = self._crd(rt) if rt.crd else None
            parts.append((rt.kind, (crd or {}).get("metadata", {}).get("resourceVersion")))
        return tuple(sorted(parts, key=str))

    def document(self, group: str, version: str) -> dict | None:
        """Return the document served at ``/openapi/v3/<gv path>``, or None."""
        signature = self._signature(group, version)
        cached = self._cache.get((group, version))
        if cached is not None and cached[0] == signature:
            return cached[1]
        doc = documents.document(self.store.resources, group, version, self._crd)
        self._cache[(group, version)] = (signature, doc)
        return doc

    def index(self) -> dict:
        """Return the ``/openapi/v3`` index of every group version's document."""
        paths = {}
        for group, versions in self.store.resources.groups().items():
            for v in versions:
                doc = self.document(group, v)
                if doc is not None:
                    path = documents.gv_path(group, v)
                    url = f"/openapi/v3/{path}?hash={documents.document_hash(doc)}"
                    paths[path] = {"serverRelativeURL": url}
        return {"paths": paths}

    def check(
        self, rt: ResourceType, version: str, obj: object, mode: str, *, patch: bool = False
    ) -> list[str]:
        """Validate ``obj``'s fields under directive ``mode``; return Warning header values.

        Strict raises the API server's 400 for unknown fields; Warn returns one warning
        each; Ignore checks nothing.
        """
        if mode == validate.IGNORE:
            return []
        doc = self.document(rt.group, version)
        if doc is None:
            return []
        schemas = doc["components"]["schemas"]
        top = schemas.get(f"{package(rt.group, version)}.{rt.kind}", {})
        fields = validate.unknown_fields(top, obj, schemas)
        if not fields:
            return []
        if mode == validate.STRICT:
            raise validate.strict_error(rt.kind, version, fields, patch=patch)
        return validate.warnings(fields)
