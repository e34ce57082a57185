"""API for workspaces, members and personal tokens; same access rules as the pages."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from portal import selectors, services
from portal.access import get_for
from portal.api.inputs import NumericLookup
from portal.api.serializers import (
    AuditRecordSerializer,
    MembershipSerializer,
    MeSerializer,
    NewTokenSerializer,
    TokenSerializer,
    UserTokenSerializer,
    WorkspaceSerializer,
)
from portal.models import Action, ApiToken, AuditRecord, Membership, TokenScope, Workspace


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request):
    """The signed-in user, their global role and workspace roles."""
    return Response(MeSerializer(request.user).data)


class WorkspaceViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = WorkspaceSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return Workspace.objects.visible_to(self.request.user)

    def create(self, request):
        if not request.user.is_itops:
            raise PermissionDenied("Only IT operations create workspaces.")
        serializer = WorkspaceSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        workspace = services.workspace_create(**serializer.validated_data)
        return Response(
            WorkspaceSerializer(workspace, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class MembershipViewSet(
    NumericLookup, mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Members of one workspace. Listing needs view access; changes need ``manage``."""

    serializer_class = MembershipSerializer

    def workspace(self, action_name: str = Action.VIEW) -> Workspace:
        return get_for(Workspace.objects, self.request.user, action_name, slug=self.kwargs["slug"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return self.workspace().memberships.select_related("user")

    @extend_schema(request=MembershipSerializer, responses=MembershipSerializer)
    def create(self, request, slug):
        """Adds a member or changes their role (idempotent)."""
        workspace = self.workspace(Action.MANAGE)
        serializer = MembershipSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_set(
            workspace=workspace,
            user=serializer.validated_data["user"],
            role=serializer.validated_data["role"],
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, slug, pk):
        workspace = self.workspace(Action.MANAGE)
        membership = get_object_or_404(workspace.memberships, pk=pk)
        services.membership_remove(workspace=workspace, user=membership.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenViewSet(NumericLookup, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's own personal tokens."""

    serializer_class = TokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(request=TokenSerializer, responses=NewTokenSerializer)
    def create(self, request):
        serializer = TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, raw = services.token_create(
            user=request.user,
            name=data["name"],
            scope=data.get("scope", TokenScope.FULL),
            days=data.get("expires_in_days"),
        )
        data = NewTokenSerializer(token).data | {"token": raw}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk):
        token = get_object_or_404(self.get_queryset(), pk=pk)
        services.token_revoke(token=token)
        return Response(TokenSerializer(token).data)


class UserTokenViewSet(NumericLookup, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every user's personal tokens, for IT operations: list (``?user=``, ``?state=active``)
    and revoke. Others get 403."""

    serializer_class = UserTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        if not self.request.user.is_itops:
            raise PermissionDenied("Only IT operations see everyone's tokens.")
        return selectors.token_list_all(
            username=self.request.query_params.get("user", ""),
            state=self.request.query_params.get("state", ""),
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("user", str, description="Only this user's tokens"),
            OpenApiParameter("state", str, enum=["active", "expired", "revoked"]),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=UserTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk):
        token = get_object_or_404(self.get_queryset(), pk=pk)
        services.token_revoke(token=token)
        return Response(UserTokenSerializer(token).data)


@extend_schema(
    parameters=[
        OpenApiParameter(name, str, description=description)
        for name, description in (
            ("actor", "username"),
            ("action", "e.g. create, update, delete, revoke, submit, login"),
            ("object_type", "e.g. job, cluster, token, membership"),
            ("workspace", "workspace slug"),
            ("since", "ISO date or time"),
            ("until", "ISO date or time"),
            ("q", "text in the object's name or the summary"),
        )
    ]
)
class AuditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit log, newest first: everything for IT operations, their workspaces' records
    for workspace admins; 403 for others."""

    serializer_class = AuditRecordSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditRecord.objects.none()
        user = self.request.user
        if not selectors.audit_may_read(user):
            raise PermissionDenied("The audit log is for IT operations and workspace admins.")
        return selectors.audit_filter(selectors.audit_visible_to(user), self.request.query_params)
