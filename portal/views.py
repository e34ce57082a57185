"""Studio pages of the portal app: home, workspaces, members, tokens, the audit log."""

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponsePermanentRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.views.decorators.http import require_POST

from portal import live, selectors, services, throttle
from portal.access import get_for, is_htmx
from portal.forms import MemberForm, TokenForm, WorkspaceForm
from portal.middleware import SESSION_KEY
from portal.models import Action, ApiToken, TokenScope, Workspace


def favicon(request):
    """``/favicon.ico``, which browsers and tools ask for whatever a page links: the icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


class LoginView(auth_views.LoginView):
    """Django's login, refused up front (429, with why and for how long) for an address that
    failed too often; a username locked from this address is django-axes's answer."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            sso=settings.SSO_ENABLED,
            local_accounts=settings.LOCAL_ACCOUNTS,
            sso_failed="sso" in self.request.GET,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_ACCOUNTS:
            return render(
                request,
                "registration/login.html",
                {
                    "refused": "Passwords are switched off here: sign in with single sign-on.",
                    "sso": settings.SSO_ENABLED,
                },
                status=403,
            )
        refused = throttle.failures_refused(throttle.client_address(request))
        if refused is not None:
            context = {"refused": refused.message, "local_accounts": True}
            context["sso"] = settings.SSO_ENABLED
            response = render(request, "registration/login.html", context, status=429)
            response["Retry-After"] = str(refused.wait)
            return response
        return super().post(request, *args, **kwargs)


@login_required
def home(request):
    workspace = request.workspace
    context = {"workspace": workspace}
    if workspace is None and not request.user.is_itops:
        context["no_workspace"] = True
    return render(request, "portal/home.html", context)


@login_required
def workspace_list(request):
    workspaces = Workspace.objects.visible_to(request.user).prefetch_related("memberships")
    form = WorkspaceForm() if request.user.is_itops else None
    return render(request, "portal/workspace_list.html", {"workspaces": workspaces, "form": form})


@login_required
@require_POST
def workspace_create(request):
    if not request.user.is_itops:
        raise PermissionDenied("Only IT operations create workspaces.")
    form = WorkspaceForm(request.POST)
    if form.is_valid():
        workspace = services.workspace_create(**form.cleaned_data)
        messages.success(request, f"Workspace “{workspace.name}” created.")
        return redirect("workspace-detail", slug=workspace.slug)
    workspaces = Workspace.objects.visible_to(request.user)
    return render(
        request, "portal/workspace_list.html", {"workspaces": workspaces, "form": form}, status=400
    )


def _members_context(request, workspace, form=None) -> dict:
    can_manage = workspace.allows(request.user, Action.MANAGE)
    return {
        "workspace": workspace,
        "members": workspace.memberships.select_related("user"),
        "can_manage": can_manage,
        "form": form or (MemberForm() if can_manage else None),
        "live_groups": [live.group_name("portal.workspace", workspace.pk)],
    }


@login_required
def workspace_detail(request, slug):
    workspace = get_for(Workspace.objects, request.user, slug=slug)
    return TemplateResponse(
        request, "portal/workspace_detail.html", _members_context(request, workspace)
    )


@login_required
@require_POST
def member_set(request, slug):
    workspace = get_for(Workspace.objects, request.user, Action.MANAGE, slug=slug)
    form = MemberForm(request.POST)
    if not form.is_valid():
        context = _members_context(request, workspace, form)
        template = (
            "portal/workspace_detail.html#member-form"
            if is_htmx(request)
            else "portal/workspace_detail.html"
        )
        return TemplateResponse(request, template, context, status=400)
    services.membership_set(
        workspace=workspace, user=form.cleaned_data["username"], role=form.cleaned_data["role"]
    )
    if is_htmx(request):
        context = _members_context(request, workspace)
        return TemplateResponse(request, "portal/workspace_detail.html#member-form", context)
    messages.success(request, "Membership saved.")
    return redirect("workspace-detail", slug=slug)


@login_required
@require_POST
def member_remove(request, slug, membership_id):
    workspace = get_for(Workspace.objects, request.user, Action.MANAGE, slug=slug)
    membership = workspace.memberships.filter(pk=membership_id).select_related("user").first()
    if membership is None:
        messages.error(request, "That person is no longer a member.")
    else:
        services.membership_remove(workspace=workspace, user=membership.user)
        messages.success(request, f"{membership.user.username} removed from {workspace.name}.")
    return redirect("workspace-detail", slug=slug)


@login_required
@require_POST
def workspace_switch(request):
    workspace = (
        Workspace.objects.visible_to(request.user).filter(pk=request.POST.get("workspace")).first()
    )
    if workspace is None:
        messages.error(request, "That workspace does not exist or is not shared with you.")
        return redirect("home")
    request.session[SESSION_KEY] = workspace.pk
    return redirect(request.POST.get("next") or "home")


@login_required
def token_list(request):
    return _token_page(request, TokenForm())


def _token_page(request, form, new_secret: str | None = None, status: int = 200):
    tokens = ApiToken.objects.filter(user=request.user)
    return render(
        request,
        "portal/token_list.html",
        {"tokens": tokens, "form": form, "new_secret": new_secret},
        status=status,
    )


@login_required
@require_POST
def token_create(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _token_page(request, form, status=400)
    data = form.cleaned_data
    _token, raw = services.token_create(
        user=request.user,
        name=data["name"],
        scope=data["scope"] or TokenScope.FULL,
        days=data["expires_in_days"],
    )
    return _token_page(request, TokenForm(), new_secret=raw, status=201)


@login_required
@require_POST
def token_revoke(request, token_id):
    token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
    if token is None:
        messages.error(request, "No such token.")
    else:
        services.token_revoke(token=token)
        messages.success(request, f"Token “{token.name}” revoked; it no longer works.")
    return redirect("token-list")


def itops_required(view):
    def wrapped(request, *args, **kwargs):
        if not request.user.is_itops:
            raise PermissionDenied("Only IT operations see everyone's tokens and the audit log.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@itops_required
def user_token_list(request):
    """Every user's tokens (filters: user, state), each revocable."""
    username = request.GET.get("user", "").strip()
    state = request.GET.get("state", "")
    if state not in ("", *selectors.TOKEN_STATES):
        state = ""
    tokens = selectors.token_list_all(username=username, state=state)[:500]
    return render(
        request,
        "portal/user_token_list.html",
        {"tokens": tokens, "username": username, "state": state, "states": selectors.TOKEN_STATES},
    )


@itops_required
@require_POST
def user_token_revoke(request, token_id):
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None:
        messages.error(request, "No such token.")
    else:
        services.token_revoke(token=token)
        messages.success(
            request, f"Token “{token.name}” of {token.user.username} revoked; it no longer works."
        )
    return redirect("user-token-list")


AUDIT_PAGE = 100
AUDIT_CSV_MAX = 100_000
AUDIT_COLUMNS = (
    "at",
    "actor_name",
    "via",
    "address",
    "token_prefix",
    "workspace_slug",
    "action",
    "object_type",
    "object_id",
    "object_name",
    "summary",
)


def _audit_records(request):
    """The records the user may read, filtered by the query string; (records, errors)."""
    if not selectors.audit_may_read(request.user):
        raise PermissionDenied("The audit log is for IT operations and workspace admins.")
    records = selectors.audit_visible_to(request.user)
    try:
        return selectors.audit_filter(records, request.GET), {}
    except ValidationError as exc:
        return records.none(), exc.message_dict


@login_required
def audit_list(request):
    """The audit log, newest first, with filters, pages of 100 and a CSV export."""
    records, errors = _audit_records(request)
    try:
        page = max(1, min(int(request.GET.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    start = (page - 1) * AUDIT_PAGE
    rows = list(records.select_related(None)[start : start + AUDIT_PAGE + 1])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/audit_list.html",
        {
            "records": rows[:AUDIT_PAGE],
            "errors": errors,
            "filters": {name: request.GET.get(name, "") for name in selectors.AUDIT_FILTERS},
            "page": page,
            "next_page": page + 1 if len(rows) > AUDIT_PAGE else None,
            "query": query.urlencode(),
        },
        status=400 if errors else 200,
    )


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_export(request):
    """The filtered records as CSV (at most AUDIT_CSV_MAX rows, newest first)."""
    records, errors = _audit_records(request)
    if errors:
        return render(
            request,
            "portal/audit_list.html",
            {"records": [], "errors": errors, "filters": {}, "page": 1},
            status=400,
        )
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(AUDIT_COLUMNS)
        for values in records.values_list(*AUDIT_COLUMNS)[:AUDIT_CSV_MAX].iterator():
            yield writer.writerow([_csv_cell(v) for v in values])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response


def _csv_cell(value) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = (
        "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    )
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csrf_failure(request, reason=""):
    return render(
        request,
        "403.html",
        {"message": "The form was missing its security token. Reload the page and try again."},
        status=403,
    )
