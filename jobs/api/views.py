"""REST API of the jobs app (workspace-scoped), with the pages' access rules."""

import hashlib

from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import (
    action,
    api_view,
    authentication_classes,
    permission_classes,
)
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from assets import services as assets
from jobs import selectors, services
from jobs.api import serializers as s
from jobs.filters import JobFilter
from jobs.models import Job
from portal.access import get_for
from portal.api.errors import ConflictError
from portal.api.inputs import MAX_INT, JSONParser, whole_number
from portal.models import Action, Workspace


class YamlParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"yaml": stream.read().decode(errors="replace")}


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes | str) else str(data)


def _workspace(request, slug, action_name=Action.VIEW) -> Workspace:
    return get_for(Workspace.objects, request.user, action_name, slug=slug)


class JobViewSet(viewsets.GenericViewSet):
    serializer_class = s.JobSerializer
    lookup_field = "name"
    filter_backends = [DjangoFilterBackend]
    filterset_class = JobFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Job.objects.none()
        workspace = _workspace(self.request, self.kwargs["slug"])
        return selectors.jobs_for(user=self.request.user, workspace=workspace)

    def get_parsers(self):
        return [JSONParser(), YamlParser()]

    def list(self, request, slug):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.JobSerializer(page, many=True).data)

    @extend_schema(responses=s.JobDetailSerializer)
    def retrieve(self, request, slug, name):
        return Response(s.JobDetailSerializer(self.get_object()).data)

    @extend_schema(request=s.SubmitSerializer, responses={202: s.JobSerializer})
    def create(self, request, slug):
        """Submits a job from YAML text (or a JSON spec); answers 202 with the job's URL."""
        workspace = _workspace(request, slug, Action.SUBMIT)
        data = s.SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        job, warnings = services.job_submit(
            workspace=workspace,
            user=request.user,
            text=v.get("yaml"),
            raw=v.get("spec"),
            overrides=v["overrides"],
        )
        body = s.JobSerializer(job).data | {"warnings": warnings}
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["api_url"]}
        )

    @extend_schema(request=None, responses={202: s.JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, slug, name):
        _workspace(request, slug, Action.SUBMIT)
        job = self.get_object()
        try:
            services.job_cancel(job=job)
        except services.Conflict as exc:
            raise ConflictError(str(exc)) from None
        job.refresh_from_db()
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.CloneSerializer, responses={202: s.JobSerializer})
    @action(detail=True, methods=["post"])
    def clone(self, request, slug, name):
        _workspace(request, slug, Action.SUBMIT)
        data = s.CloneSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job, warnings = services.job_clone(
            job=self.get_object(), user=request.user, overrides=data.validated_data["overrides"]
        )
        return Response(
            s.JobSerializer(job).data | {"warnings": warnings}, status=status.HTTP_202_ACCEPTED
        )

    def destroy(self, request, slug, name):
        _workspace(request, slug, Action.SUBMIT)
        try:
            services.job_delete(job=self.get_object())
        except services.Conflict as exc:
            raise ConflictError(str(exc)) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter("instance", int),
            OpenApiParameter("container", str),
            OpenApiParameter("since_line", int),
        ],
        responses={(200, "text/plain"): str},
    )
    @action(detail=True, methods=["get"], renderer_classes=[PlainTextRenderer, JSONRenderer])
    def logs(self, request, slug, name):
        """The job's log as text (lines from ``since_line``); header X-Next-Line says where to continue."""
        job = self.get_object()
        params = request.query_params
        index = whole_number(params.get("instance", 0), "instance", maximum=MAX_INT)
        since = whole_number(params.get("since_line", 0), "since_line", maximum=MAX_INT)
        lines = selectors.log_lines(
            job=job, index=index, container=request.query_params.get("container", "main")
        )
        response = HttpResponse(
            "".join(line + "\n" for line in lines[since:]), content_type="text/plain; charset=utf-8"
        )
        response["X-Next-Line"] = str(len(lines))
        return response


@extend_schema(exclude=True)
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def job_code(request, job_id):
    """The code archive of one job, for its pods; authorised by the job-scoped token only."""
    header = request.headers.get("Authorization", "")
    raw = header.removeprefix("Bearer ").strip()
    # A job that does not exist gets the same answer as a wrong token: the answer must not
    # tell which job ids exist (they count the jobs of every workspace).
    job = Job.objects.filter(pk=job_id).first()
    valid = (
        raw
        and job is not None
        and job.code_token_hash
        and hashlib.sha256(raw.encode()).hexdigest() == job.code_token_hash
        and job.code_token_expires
        and job.code_token_expires > timezone.now()
        and job.spec.get("code")
    )
    if not valid:
        return Response(
            {"detail": "Invalid or expired job code token."}, status=status.HTTP_403_FORBIDDEN
        )
    path = assets.code_path(job.spec["code"]["sha256"])
    return FileResponse(open(path, "rb"), content_type="application/gzip")
