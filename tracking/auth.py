"""Who calls the tracking API: ``Authorization: Bearer <token>`` with a personal token (the
user's role in the workspace decides: readers read, data scientists write) or a job-scoped
token (reads its workspace's runs, writes its own run alone). Tokens of another workspace
get PERMISSION_DENIED; an unknown token or none, UNAUTHENTICATED."""

import hashlib
from dataclasses import dataclass

from portal import throttle
from portal.models import Action, Workspace
from portal.tokens import TokenRefused, token_check
from tracking.errors import MlflowError, denied
from tracking.models import Run

RUN_TOKEN_PREFIX = "kpr_"


def run_token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class Caller:
    workspace: Workspace
    user: object | None = None  # a personal token's user
    run: Run | None = None  # a job-scoped token's run
    rank: int = 0  # which instance of a distributed job (from the token's ".<rank>" suffix)
    can_write: bool = False
    read_only_token: bool = False  # a personal token with scope "read"

    @property
    def user_id(self) -> str:
        if self.user is not None:
            return self.user.username
        return self.run.user_id if self.run else ""

    def check_write(self, run: Run | None = None) -> None:
        """Raises PERMISSION_DENIED unless this caller may write ``run`` (or, with no run,
        create things in the workspace)."""
        if self.run is not None:
            if run is None or run.pk != self.run.pk:
                raise denied("A job's token writes its own run only.")
            return
        if self.read_only_token:
            raise denied("This token is read-only; log runs with a token of full scope.")
        if not self.can_write:
            raise denied(
                f"Your role in workspace {self.workspace.slug} is read-only; ask an admin "
                "for the data scientist role to log runs."
            )


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def caller_for(request, slug: str) -> Caller:
    raw = _bearer(request)
    if raw is None:
        raise MlflowError(
            "UNAUTHENTICATED",
            "Set MLFLOW_TRACKING_TOKEN to a personal API token (Account → API tokens).",
        )
    address = throttle.client_address(request)
    try:
        if raw.startswith(RUN_TOKEN_PREFIX):
            return _run_caller(raw, slug, address)
        token = token_check(raw, address=address)
    except throttle.Refused as refused:
        raise MlflowError("REQUEST_LIMIT_EXCEEDED", refused.message, wait=refused.wait) from None
    except TokenRefused as exc:
        raise MlflowError("UNAUTHENTICATED", exc.message) from None
    return _user_caller(token.user, slug, read_only=token.read_only)


def _user_caller(user, slug: str, *, read_only: bool = False) -> Caller:
    visible = Workspace.objects.visible_to(user, Action.VIEW).filter(slug=slug).first()
    if visible is None:
        raise denied(f"You have no access to workspace {slug}.")
    writable = Workspace.objects.visible_to(user, Action.SUBMIT).filter(pk=visible.pk).exists()
    return Caller(
        workspace=visible,
        user=user,
        can_write=writable and not read_only,
        read_only_token=read_only,
    )


def _run_caller(raw: str, slug: str, address: str) -> Caller:
    """A job-scoped token; an unknown one counts against the address as any bad token does."""
    secret, _, rank_text = raw.partition(".")
    run = Run.objects.select_related("workspace").filter(token_hash=run_token_hash(secret)).first()
    if run is None:
        refused = throttle.failures_refused(address)
        if refused is not None:
            raise refused
        throttle.note_failure(address)
        raise TokenRefused("Invalid job token (the job may have been deleted).")
    if run.workspace.slug != slug:
        raise denied(f"This job's token belongs to workspace {run.workspace.slug}, not {slug}.")
    rank = int(rank_text) if rank_text.isdigit() and len(rank_text) < 6 else 0
    return Caller(workspace=run.workspace, run=run, rank=rank, can_write=True)
