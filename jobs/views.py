"""Studio pages of the jobs app."""

import yaml
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from assets import archives
from assets import services as assets
from jobs import manifests, selectors, services
from jobs.filters import JobFilter
from jobs.forms import JobForm
from jobs.models import Job, Status
from jobs.notify import log_tails
from portal import live
from portal.access import get_for, is_htmx
from portal.models import Action, Workspace
from tracking import live as tracking_live
from tracking import studio

PAGE_SIZE = 50


def _workspace(request, slug, action=Action.VIEW) -> Workspace:
    return get_for(Workspace.objects, request.user, action, slug=slug)


@login_required
def job_list_current(request):
    if request.workspace is None:
        raise PermissionDenied("You are not a member of any workspace yet.")
    return redirect("job-list", slug=request.workspace.slug)


@login_required
def job_list(request, slug):
    workspace = _workspace(request, slug)
    jobs = JobFilter(
        request.GET, queryset=selectors.jobs_for(user=request.user, workspace=workspace)
    )
    queryset = jobs.qs if jobs.is_valid() else jobs.queryset.none()
    if not request.GET.get("ordering"):
        queryset = queryset.order_by("-created_at", "-id")
    # Counting 100,000 rows on every page view is the slow part; cap the count.
    page = Paginator(
        queryset.only(
            "id",
            "name",
            "display_name",
            "status",
            "status_reason",
            "experiment_name",
            "compute__name",
            "created_by__username",
            "created_at",
            "instance_type",
            "workspace_id",
            "tags",
        ),
        PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    group = request.GET.get("group") == "experiment"
    context = {
        "workspace": workspace,
        "filter": jobs,
        "page": page,
        "group": group,
        "statuses": Status.values,
        "query": request.GET.copy(),
        "can_submit": workspace.allows(request.user, Action.SUBMIT),
        "live_groups": [live.group_name("portal.workspace", workspace.pk)],
    }
    template = "jobs/job_list.html#results" if is_htmx(request) else "jobs/job_list.html"
    return TemplateResponse(request, template, context)


def _form_page(request, workspace, form, *, yaml_text="", errors=None, status=200):
    return TemplateResponse(
        request,
        "jobs/job_new.html",
        {
            "workspace": workspace,
            "form": form,
            "yaml_text": yaml_text,
            "yaml_errors": errors or [],
            "targets": workspace.compute_targets.select_related("cluster"),
        },
        status=status,
    )


def _error_messages(exc: ValidationError) -> list[str]:
    """The messages of ``exc``, each prefixed with its field path when it has one."""
    if hasattr(exc, "error_dict"):
        return [f"{field}: {m}" for field, msgs in exc.message_dict.items() for m in msgs]
    return exc.messages


@login_required
def job_new(request, slug):
    """The "Submit a job" page: a YAML pane and a form pane, each a form of its own.

    A submit validates only the pane it came from. The page posts the other pane's input
    along (see ``data-carry`` in the template), so a page returned with errors shows both
    panes as they were, with the errors in the submitted one only.
    """
    workspace = _workspace(request, slug, Action.SUBMIT)
    if request.method != "POST":
        clone = request.GET.get("from")
        source = Job.objects.filter(workspace=workspace, name=clone).first() if clone else None
        yaml_text = source.spec_yaml if source else JobForm.example(workspace)
        return _form_page(request, workspace, JobForm(workspace=workspace), yaml_text=yaml_text)
    if request.POST.get("mode") == "yaml":
        return _submit_yaml(request, workspace)
    return _submit_form(request, workspace)


def _submit_yaml(request, workspace):
    """Submits the YAML pane; on errors, the form pane shows what it held, unvalidated."""
    text = request.POST.get("yaml", "")
    try:
        job, warnings = services.job_submit(workspace=workspace, user=request.user, text=text)
    except ValidationError as exc:
        carried = {name: request.POST[name] for name in JobForm.base_fields if name in request.POST}
        form = JobForm(workspace=workspace, initial=carried)
        return _form_page(
            request, workspace, form, yaml_text=text, errors=_error_messages(exc), status=400
        )
    return _submitted(request, job, warnings)


def _submit_form(request, workspace):
    """Submits the form pane; on errors, the YAML pane shows the text it held (the
    starting YAML when none came along)."""
    form = JobForm(workspace=workspace, data=request.POST, files=request.FILES)
    if form.is_valid():
        try:
            job, warnings = _submit_form_spec(request, workspace, form)
        except ValidationError as exc:
            for message in _error_messages(exc):
                form.add_error(None, message)
        except archives.ArchiveError as exc:
            form.add_error("code", str(exc))
        else:
            return _submitted(request, job, warnings)
    yaml_text = request.POST["yaml"] if "yaml" in request.POST else JobForm.example(workspace)
    return _form_page(request, workspace, form, yaml_text=yaml_text, status=400)


def _submit_form_spec(request, workspace, form):
    """Uploads the form's code archive, if any, and submits its spec; returns (job, warnings)."""
    raw = form.to_spec()
    upload = form.cleaned_data.get("code")
    if upload:
        archive = assets.code_upload(
            workspace=workspace,
            user=request.user,
            fileobj=upload,
            max_bytes=settings.CODE_UPLOAD_MAX_BYTES,
        )
        raw["code"] = archive.reference
    return services.job_submit(workspace=workspace, user=request.user, raw=raw)


def _submitted(request, job, warnings):
    for warning in warnings:
        messages.warning(request, warning)
    messages.success(request, f"Job {job.name} submitted.")
    return redirect("job-detail", slug=job.workspace.slug, name=job.name)


@login_required
@require_POST
def job_validate(request, slug):
    """htmx: validates the YAML editor's text as you type; returns the error list fragment."""
    workspace = _workspace(request, slug, Action.SUBMIT)
    text = request.POST.get("yaml", "")
    errors = []
    try:
        services.job_prepare(workspace=workspace, text=text)
    except ValidationError as exc:
        errors = _error_messages(exc)
    return TemplateResponse(
        request, "jobs/job_new.html#yaml-errors", {"yaml_errors": errors, "checked": True}
    )


@login_required
def job_detail(request, slug, name):
    workspace = _workspace(request, slug)
    job = get_for(
        Job.objects.select_related(
            "compute__cluster", "created_by", "workspace", "run__experiment", "run__workspace"
        ),
        request.user,
        workspace=workspace,
        name=name,
    )
    manifests_yaml = None
    if request.user.is_itops:
        objects = manifests.render_for(
            job, code_token="<job-scoped token>", tracking_token="<job-scoped token>"
        )
        manifests_yaml = yaml.safe_dump_all(objects, sort_keys=False)
    context = {
        "workspace": workspace,
        "job": job,
        "transitions": job.transitions.all(),
        "instances": job.instances.all(),
        "events": job.events.all(),
        "logs": log_tails(job),
        "manifests_yaml": manifests_yaml,
        "can_submit": workspace.allows(request.user, Action.SUBMIT),
        "live_groups": [live.group_name("jobs.job", job.pk)],
    }
    if job.run is not None:
        context |= studio.panels(job.run)
        context["live_groups"].append(tracking_live.group(job.run.pk))
    return TemplateResponse(request, "jobs/job_detail.html", context)


@login_required
@require_POST
def job_cancel(request, slug, name):
    workspace = _workspace(request, slug, Action.SUBMIT)
    job = get_for(Job.objects, request.user, workspace=workspace, name=name)
    try:
        services.job_cancel(job=job)
        messages.success(request, f"Cancel requested for {job.name}.")
    except services.Conflict as exc:
        messages.error(request, str(exc))
    return redirect("job-detail", slug=slug, name=name)


@login_required
@require_POST
def job_clone(request, slug, name):
    workspace = _workspace(request, slug, Action.SUBMIT)
    job = get_for(Job.objects, request.user, workspace=workspace, name=name)
    try:
        clone, _warnings = services.job_clone(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return redirect("job-detail", slug=slug, name=name)
    messages.success(request, f"Re-ran {job.name} as {clone.name}.")
    return redirect("job-detail", slug=slug, name=clone.name)


@login_required
@require_POST
def job_delete(request, slug, name):
    workspace = _workspace(request, slug, Action.SUBMIT)
    job = get_for(Job.objects, request.user, workspace=workspace, name=name)
    try:
        services.job_delete(job=job)
        messages.success(request, f"Job {name} deleted.")
    except services.Conflict as exc:
        messages.error(request, str(exc))
        return redirect("job-detail", slug=slug, name=name)
    return redirect("job-list", slug=slug)
