"""Studio pages of models: the workspace's models, one model with its versions, lineage and
files, a file's download, archiving a version."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from assets.api.models import file_response
from assets.model_services import model_set_archived
from assets.models import Model
from portal.access import get_for
from portal.models import Action, Workspace


@login_required
def model_list(request, slug):
    workspace = get_for(Workspace.objects, request.user, slug=slug)
    rows = Model.objects.filter(workspace=workspace, archived=False)
    summary = rows.values("name").annotate(versions=Count("id"), created=Max("created_at"))
    latest = {}
    for model in rows.order_by("name", "-created_at", "-id").only(
        "name", "version", "type", "created_at"
    ):
        latest.setdefault(model.name, model)
    models = [
        {"model": latest[item["name"]], "versions": item["versions"]}
        for item in summary.order_by("name")
    ]
    return TemplateResponse(
        request,
        "assets/model_list.html",
        {
            "workspace": workspace,
            "models": models,
            "can_submit": workspace.allows(request.user, Action.SUBMIT),
        },
    )


@login_required
def model_list_current(request):
    if request.workspace is None:
        raise PermissionDenied("You are not a member of any workspace yet.")
    return redirect("model-list", slug=request.workspace.slug)


@login_required
def model_detail(request, slug, name):
    workspace = get_for(Workspace.objects, request.user, slug=slug)
    versions = list(
        Model.objects.filter(workspace=workspace, name=name)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )
    if not versions:
        raise Http404(f"No model {name} in this workspace.")
    asked = request.GET.get("version")
    live = [v for v in versions if not v.archived]
    shown = next((v for v in versions if v.version == asked), None) if asked else None
    if asked and shown is None:
        raise Http404(f"Model {name} has no version {asked}.")
    shown = shown or (live[0] if live else versions[0])
    return TemplateResponse(
        request,
        "assets/model_detail.html",
        {
            "workspace": workspace,
            "name": name,
            "versions": versions,
            "model": shown,
            "latest": live[0] if live else None,
            "can_submit": workspace.allows(request.user, Action.SUBMIT),
        },
    )


def _version(request, slug, name, version, action=Action.VIEW) -> Model:
    workspace = get_for(Workspace.objects, request.user, action, slug=slug)
    model = Model.objects.filter(workspace=workspace, name=name, version=version).first()
    if model is None:
        raise Http404(f"Model {name} has no version {version}.")
    return model


@login_required
def model_file(request, slug, name, version, path):
    return file_response(_version(request, slug, name, version), path)


@login_required
@require_POST
def model_archive(request, slug, name, version):
    model = _version(request, slug, name, version, Action.SUBMIT)
    archived = request.POST.get("archived", "1") == "1"
    model_set_archived(model=model, archived=archived)
    messages.success(request, f"Model {model} {'archived' if archived else 'restored'}.")
    detail = reverse("model-detail", kwargs={"slug": slug, "name": model.name})
    return redirect(f"{detail}?{urlencode({'version': model.version})}")
