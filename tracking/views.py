"""Studio pages of run tracking: experiments, their run tables, run comparison, a run's page,
and what the charts and the Outputs section fetch (series, artifact folders, files)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.access import get_for
from portal.models import Action, Workspace
from tracking import artifacts, studio
from tracking.errors import MlflowError
from tracking.live import group
from tracking.models import Experiment, Lifecycle, Run

SERIES_WIDTH = (10, 4000, 800)  # least, most, default buckets per series


def _workspace(request, slug) -> Workspace:
    return get_for(Workspace.objects, request.user, Action.VIEW, slug=slug)


def _run(request, slug, run_id) -> Run:
    workspace = _workspace(request, slug)
    if not run_id.isalnum() or len(run_id) > 32:
        raise Http404("No such run.")
    return get_for(
        Run.objects.select_related("experiment", "workspace"),
        request.user,
        workspace=workspace,
        run_id=run_id,
    )


@login_required
def experiment_list_current(request):
    if request.workspace is None:
        raise PermissionDenied("You are not a member of any workspace yet.")
    return redirect("experiment-list", slug=request.workspace.slug)


@login_required
def experiment_list(request, slug):
    workspace = _workspace(request, slug)
    active = Q(runs__lifecycle_stage=Lifecycle.ACTIVE)
    experiments = Experiment.objects.filter(
        workspace=workspace, lifecycle_stage=Lifecycle.ACTIVE
    ).annotate(
        run_count=Count("runs", filter=active), last_run=Max("runs__start_time", filter=active)
    )
    context = {
        "workspace": workspace,
        "experiments": experiments,
        "tracking_uri": _uri(request, workspace),
    }
    return TemplateResponse(request, "tracking/experiment_list.html", context)


def _uri(request, workspace) -> str:
    return request.build_absolute_uri(f"/mlflow/{workspace.slug}")


@login_required
def experiment_detail(request, slug, pk):
    workspace = _workspace(request, slug)
    experiment = get_for(Experiment.objects, request.user, workspace=workspace, pk=pk)
    filter_text = request.GET.get("filter", "")[:10000]
    order = request.GET.get("order", "")[:300]
    table = studio.run_table(
        experiment,
        filter_text=filter_text,
        order=order,
        columns=request.GET.getlist("col")[: studio.MAX_COLUMNS * 2],
        page=request.GET.get("page"),
    )
    query = request.GET.copy()
    query.pop("page", None)
    sort_base = query.copy()
    sort_base.pop("order", None)
    context = {
        "workspace": workspace,
        "experiment": experiment,
        "table": table,
        "filter_text": filter_text,
        "order": order,
        "query": query.urlencode(),
        "sort_base": sort_base.urlencode() + "&" if sort_base else "",
        "chosen": {c.name for c in table.columns},
    }
    return TemplateResponse(
        request, "tracking/experiment_detail.html", context, status=400 if table.error else 200
    )


@login_required
def run_compare(request, slug):
    workspace = _workspace(request, slug)
    comparison = studio.compare(workspace, request.GET.getlist("run"))
    if len(comparison.runs) < 1:
        raise Http404("Pick runs of this workspace to compare.")
    keys = []
    for run in comparison.runs:
        keys += studio.metric_keys(run)
    context = {
        "workspace": workspace,
        "comparison": comparison,
        "chart_groups": studio.chart_groups(sorted(set(keys))),
        "live_groups": [group(run.pk) for run in comparison.runs],
    }
    return TemplateResponse(request, "tracking/run_compare.html", context)


@login_required
def run_detail(request, slug, run_id):
    run = _run(request, slug, run_id)
    job_name = studio.run_job_name(run)
    context = {
        "workspace": run.workspace,
        "job_url": reverse("job-detail", args=[run.workspace.slug, job_name]) if job_name else "",
        "job_name": job_name,
        "live_groups": [group(run.pk)],
        **studio.panels(run),
    }
    return TemplateResponse(request, "tracking/run_detail.html", context)


def _bounded(raw: str | None, least: int, most: int, default: int) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 6:
        return default
    return max(least, min(most, int(raw)))


@login_required
def run_series(request, slug, run_id):
    """The run's metrics for its charts, downsampled to ``width`` buckets per series."""
    run = _run(request, slug, run_id)
    width = _bounded(request.GET.get("width"), *SERIES_WIDTH)
    by = "timestamp" if request.GET.get("x") == "time" else "step"
    keys = request.GET.getlist("key")[: studio.MAX_KEYS]
    data = studio.series(run, width=width, by=by, keys=keys or None)
    return JsonResponse({"run": run.run_id, "name": run.name, "x": by, "series": data})


def _path(raw: str) -> str:
    try:
        return artifacts.clean(raw)
    except MlflowError as exc:
        raise Http404(exc.message) from None


@login_required
def run_files(request, slug, run_id):
    """htmx: one folder of the run's outputs (a tree level), or a file's preview."""
    run = _run(request, slug, run_id)
    path = _path(request.GET.get("path", ""))
    if request.GET.get("preview"):
        shown = studio.preview(run, path) if path else None
        if shown is None:
            raise Http404("No such file in this run's outputs.")
        context = {"run": run, "path": path, "preview": shown}
        return TemplateResponse(request, "tracking/run_panels.html#preview", context)
    context = {"run": run, "folder": path, "entries": studio.entries(run, path)}
    return TemplateResponse(request, "tracking/run_panels.html#tree", context)


@login_required
def run_file(request, slug, run_id, path):
    """A file of the run's outputs, as a download; raster images may be shown in the page
    (``?inline=1``), nothing else is ever rendered by the browser."""
    run = _run(request, slug, run_id)
    path = _path(path)
    handle = artifacts.open_file(run.workspace_id, f"{run.artifact_root}/{path}") if path else None
    if handle is None:
        raise Http404("No such file in this run's outputs.")
    image = studio.image_type(path)
    inline = bool(image and request.GET.get("inline"))
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=path.rsplit("/", 1)[-1],
        content_type=image if inline else "application/octet-stream",
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
