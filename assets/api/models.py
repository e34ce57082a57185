"""REST API of models: list and create versions, show one, download its files, archive and
restore; the pages' access rules (readers read, data scientists and admins write)."""

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from assets import model_files
from assets.api import serializers as s
from assets.model_services import Upload, model_create, model_get, model_set_archived
from assets.models import Model
from portal.access import get_for
from portal.api.errors import TooLarge
from portal.models import Action, Workspace

LATEST = "@latest"
# Multipart framing and the other fields, on top of the files' own limit.
UPLOAD_SLACK = 1 << 20


def _workspace(request, slug, action=Action.VIEW) -> Workspace:
    return get_for(Workspace.objects, request.user, action, slug=slug)


def _version(workspace, name: str, version: str) -> Model:
    model = model_get(
        workspace=workspace, name=name, version=None if version == LATEST else version
    )
    if model is None:
        what = f"{name}@latest" if version == LATEST else f"{name}:{version}"
        raise Http404(f"No model {what} in workspace {workspace.slug}.")
    return model


def _true(value) -> bool:
    return str(value).lower() in ("1", "true", "yes")


class ModelListCreate(generics.ListCreateAPIView):
    serializer_class = s.ModelVersionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Model.objects.none()
        workspace = _workspace(self.request, self.kwargs["slug"])
        rows = Model.objects.filter(workspace=workspace).select_related("created_by")
        query = self.request.query_params
        if name := query.get("name"):
            rows = rows.filter(name=name[:255])
        if not _true(query.get("include_archived", "")):
            rows = rows.filter(archived=False)
        if _true(query.get("latest", "")):
            newest = {}
            for pk, model_name in rows.order_by("name", "-created_at", "-id").values_list(
                "pk", "name"
            ):
                newest.setdefault(model_name, pk)
            rows = rows.filter(pk__in=newest.values())
        return rows.order_by("name", "-created_at", "-id")

    @extend_schema(
        operation_id="workspaces_models_list",
        parameters=[
            OpenApiParameter("name", str, description="only the versions of this model"),
            OpenApiParameter("latest", bool, description="only each model's latest version"),
            OpenApiParameter("include_archived", bool, description="archived versions too"),
        ],
    )
    def get(self, request, *args, **kwargs):
        """The workspace's model versions, by name, newest version first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request={
            "application/json": s.ModelCreateSerializer,
            "multipart/form-data": s.ModelCreateSerializer,
        },
        responses={201: s.ModelVersionSerializer},
        operation_id="workspaces_models_create",
    )
    def post(self, request, slug):
        """Creates a model version from uploaded files (multipart ``archive`` or ``file``) or
        from ``path``: runs:/<run-id>/<path>, azureml://jobs/<job>/outputs/artifacts/paths/<path>
        (copied), an http(s) URL or pvc://<claim>/<path> (recorded). 409 when the version
        exists; 413 past PORTAL_MODEL_MAX_BYTES."""
        workspace = _workspace(request, slug, Action.SUBMIT)
        limit = settings.MODEL_MAX_BYTES
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if declared.isdigit() and int(declared) > limit + UPLOAD_SLACK:
            raise TooLarge(
                f"The upload is {declared} bytes, over the limit of {limit} bytes "
                "(PORTAL_MODEL_MAX_BYTES)."
            )
        data = s.ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        archive, single = fields.pop("archive", None), fields.pop("file", None)
        if archive and single:
            return Response(
                {
                    "detail": "Invalid input in: file.",
                    "errors": {"file": ["Send archive or file, not both."]},
                },
                status=400,
            )
        upload = None
        if archive:
            upload = Upload("archive", archive)
        elif single:
            upload = Upload("file", single, single.name)
        try:
            model = model_create(workspace=workspace, user=request.user, upload=upload, **fields)
        except model_files.TooLarge as exc:
            raise TooLarge(str(exc)) from None
        return Response(s.ModelVersionSerializer(model).data, status=status.HTTP_201_CREATED)


class ModelVersionDetail(APIView):
    @extend_schema(responses=s.ModelVersionSerializer, operation_id="workspaces_models_version")
    def get(self, request, slug, name, version):
        """One version (``@latest``: the newest that is not archived)."""
        model = _version(_workspace(request, slug), name, version)
        return Response(s.ModelVersionSerializer(model).data)


class ModelArchive(APIView):
    archived = True

    @extend_schema(request=None, responses=s.ModelVersionSerializer)
    def post(self, request, slug, name, version):
        """Archives the version (restore: brings it back)."""
        model = _version(_workspace(request, slug, Action.SUBMIT), name, version)
        model = model_set_archived(model=model, archived=self.archived)
        return Response(s.ModelVersionSerializer(model).data)


class ModelRestore(ModelArchive):
    archived = False


def file_response(model: Model, path: str) -> FileResponse:
    """The file as a download, never rendered by the browser."""
    handle = model_files.open_file(model, path)
    if handle is None:
        if not model.holds_files:
            raise Http404(f"The portal holds no files of {model}: they are at {model.source}.")
        raise Http404(f"Model {model} has no file {path}.")
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=path.rsplit("/", 1)[-1],
        content_type="application/octet-stream",
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class ModelFileDownload(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, slug, name, version, path):
        """One of the version's files (listed in its ``files``)."""
        model = _version(_workspace(request, slug), name, version)
        return file_response(model, path)
