"""Studio pages of the assets app."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from assets import services
from assets.forms import EnvironmentForm
from assets.models import Environment
from portal.access import get_for
from portal.errors import Conflict
from portal.models import Action, Workspace


@login_required
def environment_list(request, slug):
    workspace = get_for(Workspace.objects, request.user, slug=slug)
    can_submit = workspace.allows(request.user, Action.SUBMIT)
    form = EnvironmentForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_submit:
            raise PermissionDenied("Your role does not allow you to register environments.")
        if form.is_valid():
            try:
                services.environment_create(
                    workspace=workspace, user=request.user, **form.cleaned_data
                )
                messages.success(
                    request,
                    f"Environment {form.cleaned_data['name']}:{form.cleaned_data['version']} registered.",
                )
                return redirect("environment-list", slug=slug)
            except (Conflict, ValidationError) as exc:
                form.add_error(
                    None,
                    str(exc) if isinstance(exc, Conflict) else "; ".join(exc.messages),
                )
        status = 400
    return TemplateResponse(
        request,
        "assets/environment_list.html",
        {
            "workspace": workspace,
            "environments": Environment.objects.filter(workspace=workspace),
            "form": form if can_submit else None,
        },
        status=status,
    )


@login_required
def environment_list_current(request):
    if request.workspace is None:
        raise PermissionDenied("You are not a member of any workspace yet.")
    return redirect("environment-list", slug=request.workspace.slug)
