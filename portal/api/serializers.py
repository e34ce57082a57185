from rest_framework import serializers

from portal.models import ApiToken, AuditRecord, Membership, Role, User, Workspace


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "slug", "name", "description", "created_at", "role"]
        read_only_fields = ["id", "created_at", "role"]

    def get_role(self, workspace) -> str | None:
        return workspace.role_of(self.context["request"].user)


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), source="user"
    )
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class TokenSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True, help_text="active, expired or revoked")
    expires_in_days = serializers.IntegerField(
        write_only=True,
        required=False,
        min_value=1,
        max_value=100_000,
        help_text="Days until it expires (default PORTAL_TOKEN_DAYS, at most PORTAL_TOKEN_MAX_DAYS).",
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "created_at",
            "expires_at",
            "expires_in_days",
            "last_used_at",
            "revoked_at",
            "state",
        ]
        read_only_fields = [
            "id",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        extra_kwargs = {"scope": {"required": False, "help_text": "read or full (the default)"}}


class UserTokenSerializer(TokenSerializer):
    """A token as IT operations see it: with its user."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta(TokenSerializer.Meta):
        fields = ["username", *TokenSerializer.Meta.fields]
        read_only_fields = [*TokenSerializer.Meta.fields]


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class MeSerializer(serializers.ModelSerializer):
    workspaces = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "is_itops", "workspaces"]

    def get_workspaces(self, user) -> list[dict]:
        return [
            {"slug": m.workspace.slug, "name": m.workspace.name, "role": m.role}
            for m in user.memberships.select_related("workspace")
        ]


class AuditRecordSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)
    workspace = serializers.CharField(source="workspace_slug", read_only=True)
    sealed = serializers.SerializerMethodField()

    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "at",
            "actor",
            "via",
            "address",
            "token_prefix",
            "workspace",
            "action",
            "object_type",
            "object_id",
            "object_name",
            "summary",
            "sealed",
        ]
        read_only_fields = fields

    def get_sealed(self, record) -> bool:
        return record.seal_id is not None
