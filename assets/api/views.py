"""REST API of the assets app: environments and code uploads, with the pages' access rules."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from assets import archives, services
from assets.api import serializers as s
from assets.models import Environment
from portal.access import get_for
from portal.api.errors import ConflictError, TooLarge
from portal.errors import Conflict
from portal.models import Action, Workspace


class RawParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


def _workspace(request, slug, action_name=Action.VIEW) -> Workspace:
    return get_for(Workspace.objects, request.user, action_name, slug=slug)


class EnvironmentViewSet(viewsets.GenericViewSet):
    serializer_class = s.EnvironmentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Environment.objects.none()
        return Environment.objects.filter(workspace=_workspace(self.request, self.kwargs["slug"]))

    def list(self, request, slug):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.EnvironmentSerializer(page, many=True).data)

    def create(self, request, slug):
        workspace = _workspace(request, slug, Action.SUBMIT)
        data = s.EnvironmentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            env = services.environment_create(
                workspace=workspace, user=request.user, **data.validated_data
            )
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
        return Response(s.EnvironmentSerializer(env).data, status=status.HTTP_201_CREATED)


@extend_schema(request={"application/gzip": bytes}, responses={201: dict})
@api_view(["POST"])
@parser_classes([RawParser])
def code_upload(request, slug):
    """Uploads a code folder as .tar.gz; answers its content reference portal:code/<sha256>."""
    workspace = _workspace(request, slug, Action.SUBMIT)
    limit = settings.CODE_UPLOAD_MAX_BYTES
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > limit:
        raise TooLarge(
            f"The code archive is {declared // (1 << 20)} MiB, over the limit of {limit // (1 << 20)} MiB; leave data out of the code folder."
        )
    try:
        archive = services.code_upload(
            workspace=workspace,
            user=request.user,
            fileobj=request.stream or request,
            max_bytes=limit,
        )
    except archives.ArchiveError as exc:
        if "larger than" in str(exc) or "limit" in str(exc):
            raise TooLarge(str(exc)) from None
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(
        {
            "ref": archive.reference,
            "sha256": archive.sha256,
            "size": archive.size,
            "files": archive.files,
        },
        status=201,
    )
