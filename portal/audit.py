"""The audit log: every write made in the studio, the API, the CLI, the admin, or in the
background for someone, as one ``AuditRecord`` each.

Services call ``record()`` inside their own transaction, so a write that rolls back leaves
no record. Who and from where come from the request being served (set by
``AuditContextMiddleware``; DRF puts its authenticated user and token on the same request),
or from the caller for background work. Records are only ever added; a periodic task seals
the new ones in a batch (``seal_pending``): the seal's digest covers the previous seal's
digest and each record's hash, so changing, removing or slipping in a record shows in
``verify()`` (``manage.py audit_verify``). Two sealers racing cannot fork the chain: a
seal's ``previous_digest`` is unique, so the second one fails and retries next period.
"""

import contextvars
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal import throttle
from portal.models import ApiToken, AuditRecord, AuditSeal, Workspace

GENESIS = "0" * 64
SEAL_BATCH = 10_000
SUMMARY_MAX = 2000
# Keys whose values never go into a summary.
SECRET = re.compile(r"token|password|secret|key|credential|kubeconfig|certificate", re.I)

_request: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)


class AuditContextMiddleware:
    """Makes the request being served known to ``record()`` (who, from where, how)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reset = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(reset)


def changes(**fields) -> str:
    """A summary ``name=value, …`` of ``fields``, secret-looking keys shown as ``(hidden)``."""
    parts = []
    for name, value in fields.items():
        shown = "(hidden)" if SECRET.search(name) else _short(value)
        parts.append(f"{name}={shown}")
    return ", ".join(parts)


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


def _how(request) -> tuple[str, str]:
    """(via, token prefix) of a request."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        agent = request.headers.get("User-Agent", "")
        return ("cli" if agent.startswith("kp/") else "token"), auth.prefix
    if request.path.startswith("/admin/"):
        return "admin", ""
    return "session", ""


def record(
    *,
    action: str,
    object_type: str,
    object_id="",
    object_name: str = "",
    summary: str = "",
    workspace: Workspace | None = None,
    actor=None,
    via: str | None = None,
) -> AuditRecord:
    """Stores one audit record and returns it. Without ``actor``/``via`` they come from the
    request being served; outside a request the record is a background one (``actor`` is
    whom it was done for, if anyone)."""
    request = _request.get()
    address, token_prefix, how = None, "", "background"
    if request is not None:
        how, token_prefix = _how(request)
        address = throttle.client_address(request)
        user = getattr(request, "user", None)
        if actor is None and user is not None and user.is_authenticated:
            actor = user
    return AuditRecord.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "system",
        via=via or how,
        address=address if address != throttle.UNKNOWN_ADDRESS else None,
        token_prefix=token_prefix,
        workspace=workspace,
        workspace_slug=workspace.slug if workspace is not None else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id or "")[:40],
        object_name=str(object_name)[:200],
        summary=summary[:SUMMARY_MAX],
    )


def record_hash(row: AuditRecord) -> str:
    """The SHA-256 of everything a record says (its seal aside)."""
    fields = [
        row.pk,
        row.at.isoformat(),
        row.actor_id,
        row.actor_name,
        row.via,
        row.address,
        row.token_prefix,
        row.workspace_id,
        row.workspace_slug,
        row.action,
        row.object_type,
        row.object_id,
        row.object_name,
        row.summary,
    ]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def chain_digest(previous: str, rows) -> str:
    digest = hashlib.sha256(previous.encode())
    for row in rows:
        digest.update(record_hash(row).encode())
    return digest.hexdigest()


def seal_pending(*, settle_seconds: float = 5.0) -> AuditSeal | None:
    """Seals the records not sealed yet that are older than ``settle_seconds`` (so a
    transaction still open then is caught by the next seal), at most ``SEAL_BATCH``; returns
    the new seal, or None when there was nothing to seal or another sealer won the race."""
    cutoff = timezone.now() - timedelta(seconds=settle_seconds)
    try:
        with transaction.atomic():
            rows = list(
                AuditRecord.objects.filter(seal__isnull=True, at__lt=cutoff).order_by("pk")[
                    :SEAL_BATCH
                ]
            )
            if not rows:
                return None
            last = AuditSeal.objects.order_by("-pk").first()
            previous = last.digest if last is not None else GENESIS
            seal = AuditSeal.objects.create(
                count=len(rows),
                last_record_at=max(row.at for row in rows),
                previous_digest=previous,
                digest=chain_digest(previous, rows),
            )
            updated = AuditRecord.objects.filter(
                pk__in=[row.pk for row in rows], seal__isnull=True
            ).update(seal=seal)
            if updated != len(rows):
                raise IntegrityError("records were sealed meanwhile")
            return seal
    except IntegrityError:
        return None


def verify() -> list[str]:
    """Returns what does not hold in the chain of seals (empty: the log is intact)."""
    problems: list[str] = []
    previous = None
    for seal in AuditSeal.objects.order_by("pk").iterator():
        if previous is not None and seal.previous_digest != previous.digest:
            problems.append(f"seal {seal.pk} does not follow seal {previous.pk}")
        rows = list(seal.records.order_by("pk"))
        if len(rows) != seal.count:
            problems.append(f"seal {seal.pk}: {len(rows)} records, sealed with {seal.count}")
        if chain_digest(seal.previous_digest, rows) != seal.digest:
            problems.append(f"seal {seal.pk}: its records were changed since sealing")
        previous = seal
    return problems


def purge(*, days: int) -> int:
    """Deletes whole seals, with their records, whose newest record is older than ``days``;
    returns how many records went. The oldest remaining seal then anchors the chain."""
    if days <= 0:
        return 0
    old = AuditSeal.objects.filter(last_record_at__lt=timezone.now() - timedelta(days=days))
    with transaction.atomic():
        removed, _ = AuditRecord.objects.filter(seal__in=old).delete()
        old.delete()
    return removed


def retention_days() -> int:
    return settings.AUDIT_RETENTION_DAYS


def on_login(sender, request, user, **kwargs) -> None:
    """Signal receiver: a sign-in is recorded (with how: password, or single sign-on)."""
    backend = getattr(user, "backend", "") or ""
    record(
        action="login",
        object_type="user",
        object_id=user.pk,
        object_name=user.get_username(),
        actor=user,
        via="sso" if "oidc" in backend.lower() else "session",
        summary=f"signed in ({backend.rsplit('.', 1)[-1] or 'session'})",
    )


def on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(
            action="logout",
            object_type="user",
            object_id=user.pk,
            object_name=user.get_username(),
            actor=user,
        )
