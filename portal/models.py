"""Users, workspaces, memberships and personal API tokens.

Who may do what is decided by one rule, ``AccessQuerySet.visible_to(user, action)``,
which the querysets of every workspace-owned model are built on; pages, the API and
the websocket consumer all ask it, never their own rules.
"""

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


class Action(models.TextChoices):
    """What a user wants to do with a workspace or something in it."""

    VIEW = "view", "view"
    SUBMIT = "submit", "submit and cancel work"
    MANAGE = "manage", "manage members"


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    DATA_SCIENTIST = "data_scientist", "Data scientist"
    READER = "reader", "Reader"


ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset({Action.VIEW, Action.SUBMIT, Action.MANAGE}),
    Role.DATA_SCIENTIST: frozenset({Action.VIEW, Action.SUBMIT}),
    Role.READER: frozenset({Action.VIEW}),
}
# IT operations see and manage every workspace; submitting work needs a membership.
ITOPS_ACTIONS = frozenset({Action.VIEW, Action.MANAGE})


def roles_allowing(action: str) -> list[str]:
    """Returns the workspace roles whose holders may perform ``action``."""
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


class UserManager(DjangoUserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        """A superuser is IT operations too (``createsuperuser`` gives the first login that
        can open the cluster pages and the admin)."""
        extra_fields.setdefault("is_itops", True)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    is_itops = models.BooleanField(
        "IT operations",
        default=False,
        help_text="Manages clusters, compute targets, instance types, quotas and all workspaces.",
    )
    # The single sign-on provider's ``sub`` for users it created (portal.sso); unique, so
    # the provider's user is found by it, never by a changeable e-mail address.
    oidc_subject = models.CharField(max_length=255, null=True, blank=True, unique=True)

    objects = UserManager()


dns_label = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "Use 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit.",
)


class AccessQuerySet(models.QuerySet):
    """The one access rule, which every model's ``visible_to`` is: rows of the workspaces on
    which ``user`` may perform ``action``.

    Anonymous and deactivated users get nothing; IT operations may perform ``itops_actions``
    on every row; anyone else acts through a membership whose role allows ``action`` (and only
    ``member_actions``, where a model narrows them). ``workspace_path`` leads from a row to
    its workspace ("pk" for a workspace itself).
    """

    workspace_path = "workspace"
    itops_actions: frozenset[str] = ITOPS_ACTIONS
    member_actions: frozenset[str] | None = None

    def visible_to(self, user, action: str = Action.VIEW):
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_itops and action in self.itops_actions:
            return self.all()
        if self.member_actions is not None and action not in self.member_actions:
            return self.none()
        workspaces = Membership.objects.filter(user=user, role__in=roles_allowing(action))
        rows = self.filter(**{f"{self.workspace_path}__in": workspaces.values("workspace_id")})
        return rows.distinct() if "__" in self.workspace_path else rows


class WorkspaceQuerySet(AccessQuerySet):
    workspace_path = "pk"


class Workspace(models.Model):
    slug = models.CharField(max_length=63, unique=True, validators=[dns_label])
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def role_of(self, user) -> str | None:
        """Returns the user's role in this workspace, or None when not a member."""
        membership = self.memberships.filter(user=user).only("role").first()
        return membership.role if membership else None

    def allows(self, user, action: str) -> bool:
        """True when ``user`` may perform ``action`` on this workspace."""
        return Workspace.objects.visible_to(user, action).filter(pk=self.pk).exists()


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")
        ]
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"


TOKEN_PREFIX = "kp_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenScope(models.TextChoices):
    """What a personal token may do: read only (GET and the like everywhere, the MLflow
    API's reads), or all its user may (a token made without a scope)."""

    READ = "read", "Read only"
    FULL = "full", "Full"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        """Tokens that still sign in: not revoked, not past their expiry."""
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """A personal token for the API and the CLI; only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The first characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this the token no longer signs in."
    )
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.FULL)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def read_only(self) -> bool:
        return self.scope == TokenScope.READ

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def state(self) -> str:
        """``revoked``, ``expired`` or ``active``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expired else "active"

    @staticmethod
    def generate() -> str:
        return TOKEN_PREFIX + secrets.token_urlsafe(32)


class AuditRecord(models.Model):
    """One write someone made (or a background action made for them): who, when, from
    where, on what, and a summary that never holds a secret. Rows are only ever added
    (``portal.audit.record``); ``seal`` is set once, when a periodic seal covers the row,
    and the seals' hash chain shows any later change (``manage.py audit_verify``)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user goes
    via = models.CharField(max_length=16)  # session, token, cli, admin, sso, background
    address = models.GenericIPAddressField(null=True, blank=True)
    token_prefix = models.CharField(max_length=12, blank=True)
    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    workspace_slug = models.CharField(max_length=63, blank=True)
    action = models.CharField(max_length=32, db_index=True)
    object_type = models.CharField(max_length=40, db_index=True)
    object_id = models.CharField(max_length=40, blank=True)
    object_name = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    seal = models.ForeignKey(
        "AuditSeal", null=True, blank=True, on_delete=models.PROTECT, related_name="records"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["workspace", "-at"]), models.Index(fields=["seal"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_type}"


class AuditSeal(models.Model):
    """A batch of audit records sealed together: ``digest`` is the SHA-256 of the previous
    seal's digest and of each record's own hash, in id order."""

    created_at = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField()
    last_record_at = models.DateTimeField()
    # unique: two sealers that read the same last seal cannot both extend the chain
    previous_digest = models.CharField(max_length=64, unique=True)
    digest = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"seal {self.pk} ({self.count} records, {self.digest[:12]}…)"
