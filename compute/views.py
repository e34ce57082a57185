"""Studio pages of the compute app. They read the database; cluster work goes through services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from compute import forms, kubeconfig, selectors, services
from compute.kube.client import AccessError, token_access
from compute.models import Cluster, ComputeRequest, ComputeTarget, InstanceType, RequestKind
from portal import live
from portal.access import get_for
from portal.errors import Conflict
from portal.models import Action

MAX_UPLOAD = kubeconfig.MAX_KUBECONFIG_BYTES


def itops_required(view):
    def wrapped(request, *args, **kwargs):
        if not request.user.is_itops:
            raise PermissionDenied(
                "Only IT operations manage clusters, instance types and compute targets."
            )
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def apply_errors(form, exc: ValidationError, mapping: dict | None = None) -> None:
    """Puts a service's ValidationError onto the form's fields (or the form as a whole)."""
    if hasattr(exc, "error_dict"):
        for field, messages_ in exc.message_dict.items():
            name = (mapping or {}).get(field, field)
            for message in messages_:
                form.add_error(
                    name if name in form.fields else None,
                    f"{field}: {message}" if name not in form.fields else message,
                )
    else:
        for message in exc.messages:
            form.add_error(None, message)


# ---- clusters --------------------------------------------------------------------------------


def _cluster_list(request, kube_form=None, token_form=None, status=200):
    return TemplateResponse(
        request,
        "compute/cluster_list.html",
        {
            "clusters": Cluster.objects.visible_to(request.user),
            "kube_form": kube_form or forms.KubeconfigAttachForm(),
            "token_form": token_form or forms.TokenAttachForm(),
        },
        status=status,
    )


@itops_required
def cluster_list(request):
    return _cluster_list(request)


@itops_required
@require_POST
def cluster_attach(request):
    mode = request.POST.get("mode", "kubeconfig")
    if mode == "token":
        form = forms.TokenAttachForm(request.POST)
        if not form.is_valid():
            return _cluster_list(request, token_form=form, status=400)
        data = form.cleaned_data
        try:
            access = token_access(
                data["server"], data["token"], data["ca_certificate"], insecure=data["insecure"]
            )
        except AccessError as exc:
            form.add_error(exc.field, exc.message)
            return _cluster_list(request, token_form=form, status=400)
    else:
        form = forms.KubeconfigAttachForm(request.POST, request.FILES)
        if not form.is_valid():
            return _cluster_list(request, kube_form=form, status=400)
        data = form.cleaned_data
        upload = data.get("kubeconfig_file")
        if upload is not None and upload.size > MAX_UPLOAD:
            form.add_error(
                "kubeconfig_file",
                f"The file is larger than {MAX_UPLOAD // 1024} KiB; is it a kubeconfig?",
            )
            return _cluster_list(request, kube_form=form, status=400)
        text = upload.read().decode(errors="replace") if upload else data["kubeconfig"]
        if not text.strip():
            form.add_error("kubeconfig", "Upload a kubeconfig file or paste one.")
            return _cluster_list(request, kube_form=form, status=400)
        try:
            access = kubeconfig.read(text, data["context"] or None)
        except kubeconfig.KubeconfigError as exc:
            form.add_error(
                "context"
                if "context" in str(exc).lower() and "Unknown" in str(exc)
                else "kubeconfig",
                str(exc),
            )
            return _cluster_list(request, kube_form=form, status=400)
    try:
        cluster = services.cluster_attach(
            name=data["name"], access=access, description=data.get("description", "")
        )
    except ValidationError as exc:
        apply_errors(form, exc)
        return _cluster_list(
            request,
            kube_form=form if mode != "token" else None,
            token_form=form if mode == "token" else None,
            status=400,
        )
    messages.success(request, f"Cluster {cluster.name} attached; checking it now.")
    return redirect("cluster-detail", name=cluster.name)


@itops_required
def cluster_detail(request, name):
    cluster = get_for(Cluster.objects, request.user, name=name)
    context = selectors.cluster_page_context(cluster)
    context["extension_form"] = forms.ExtensionForm(
        initial={
            "training": cluster.training_enabled,
            "inference": cluster.inference_enabled,
            "node_selector": ", ".join(
                f"{k}={v}" for k, v in cluster.workload_node_selector.items()
            ),
        }
    )
    context["live_groups"] = [live.group_name("compute.cluster", cluster.pk)]
    return TemplateResponse(request, "compute/cluster_detail.html", context)


@itops_required
@require_POST
def cluster_recheck(request, name):
    cluster = get_for(Cluster.objects, request.user, name=name)
    services.cluster_recheck(cluster=cluster)
    messages.success(request, "Check queued; the status updates on this page.")
    return redirect("cluster-detail", name=name)


@itops_required
@require_POST
def cluster_delete(request, name):
    cluster = get_for(Cluster.objects, request.user, name=name)
    try:
        services.cluster_delete(cluster=cluster)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("cluster-detail", name=name)
    messages.success(
        request, f"Cluster {name} removed from the portal (nothing was deleted in it)."
    )
    return redirect("cluster-list")


@itops_required
@require_POST
def extension_install(request, name):
    cluster = get_for(Cluster.objects, request.user, name=name)
    form = forms.ExtensionForm(request.POST)
    if form.is_valid():
        try:
            services.extension_install(
                cluster=cluster,
                training=form.cleaned_data["training"],
                inference=form.cleaned_data["inference"],
                node_selector=form.cleaned_data["node_selector"],
            )
            messages.success(request, "Installing the extension; progress shows below.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("cluster-detail", name=name)


@itops_required
@require_POST
def extension_uninstall(request, name):
    cluster = get_for(Cluster.objects, request.user, name=name)
    try:
        services.extension_uninstall(cluster=cluster)
        messages.success(request, "Uninstalling the extension.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("cluster-detail", name=name)


# ---- instance types ----------------------------------------------------------------------------


def _instance_type_page(request, form=None, import_form=None, status=200):
    return TemplateResponse(
        request,
        "compute/instancetype_list.html",
        {
            "instance_types": InstanceType.objects.select_related("cluster"),
            "form": form or forms.InstanceTypeForm(),
            "import_form": import_form or forms.ImportForm(),
        },
        status=status,
    )


@itops_required
def instance_type_list(request):
    return _instance_type_page(request)


@itops_required
@require_POST
def instance_type_create(request):
    form = forms.InstanceTypeForm(request.POST)
    if not form.is_valid():
        return _instance_type_page(request, form=form, status=400)
    try:
        with transaction.atomic():  # all clusters or none
            for cluster in form.cleaned_data["clusters"]:
                services.instance_type_save(
                    cluster=cluster, name=form.cleaned_data["name"], **form.spec()
                )
    except ValidationError as exc:
        apply_errors(form, exc, forms.FIELD_FOR_PATH)
        return _instance_type_page(request, form=form, status=400)
    messages.success(
        request, f"Instance type {form.cleaned_data['name']} saved; writing it to the clusters."
    )
    return redirect("instance-type-list")


@itops_required
def instance_type_edit(request, pk):
    instance = get_object_or_404(InstanceType.objects.select_related("cluster"), pk=pk)
    initial = {
        "name": instance.name,
        "description": instance.description,
        "node_selector": ", ".join(f"{k}={v}" for k, v in instance.node_selector.items()),
        "requests_cpu": instance.requests.get("cpu"),
        "requests_memory": instance.requests.get("memory"),
        "limits_cpu": instance.limits.get("cpu"),
        "limits_memory": instance.limits.get("memory"),
        "limits_gpu": instance.limits.get("nvidia.com/gpu"),
    }
    form = forms.InstanceTypeForm(request.POST or None, initial=initial, editing=instance)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.instance_type_save(
                    cluster=instance.cluster, name=instance.name, instance=instance, **form.spec()
                )
                messages.success(request, f"Instance type {instance.name} updated.")
                return redirect("instance-type-list")
            except ValidationError as exc:
                apply_errors(form, exc, forms.FIELD_FOR_PATH)
        status = 400
    return TemplateResponse(
        request,
        "compute/instancetype_edit.html",
        {"instance": instance, "form": form},
        status=status,
    )


@itops_required
@require_POST
def instance_type_delete(request, pk):
    instance = get_object_or_404(InstanceType, pk=pk)
    try:
        services.instance_type_delete(instance=instance)
        messages.success(request, f"Instance type {instance.name} deleted.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("instance-type-list")


@itops_required
@require_POST
def instance_type_import(request):
    form = forms.ImportForm(request.POST)
    if form.is_valid():
        try:
            saved = services.instance_types_import(
                cluster=form.cleaned_data["cluster"], text=form.cleaned_data["manifest"]
            )
            messages.success(request, f"Imported {len(saved)} instance type(s).")
            return redirect("instance-type-list")
        except ValidationError as exc:
            apply_errors(form, exc)
    return _instance_type_page(request, import_form=form, status=400)


# ---- compute targets -----------------------------------------------------------------------------


def _target_admin_page(request, form=None, status=200):
    return TemplateResponse(
        request,
        "compute/target_admin.html",
        {
            "targets": ComputeTarget.objects.select_related("cluster", "workspace"),
            "form": form or forms.TargetForm(),
            "pending_requests": ComputeRequest.objects.filter(status="Pending").select_related(
                "workspace", "requested_by", "target"
            ),
            "review_form": forms.ReviewForm(),
        },
        status=status,
    )


@itops_required
def target_admin(request):
    return _target_admin_page(request)


@itops_required
@require_POST
def target_create(request):
    form = forms.TargetForm(request.POST)
    if not form.is_valid():
        return _target_admin_page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        target = services.target_create(
            workspace=data["workspace"],
            cluster=data["cluster"],
            name=data["name"],
            namespace=data["namespace"],
            create_namespace=data["create_namespace"],
            created_by=request.user,
            description=data["description"],
            quota_cpu=data["quota_cpu"],
            quota_memory=data["quota_memory"],
            quota_gpu=data["quota_gpu"],
            quota_pods=data["quota_pods"],
            allowed_instance_types=list(data["allowed_instance_types"]),
        )
    except ValidationError as exc:
        apply_errors(form, exc)
        return _target_admin_page(request, form=form, status=400)
    messages.success(
        request,
        f"Compute target {target.name} created for {target.workspace.name}; provisioning the namespace.",
    )
    return redirect("target-admin")


@itops_required
def target_namespace_check(request):
    """htmx: says whether the namespace exists in the chosen cluster (from the last sync)."""
    cluster = Cluster.objects.filter(pk=request.GET.get("cluster") or 0).first()
    namespace = request.GET.get("namespace", "").strip()
    return TemplateResponse(
        request,
        "compute/target_admin.html#namespace-hint",
        {"hint_cluster": cluster, "hint_namespace": namespace},
    )


@itops_required
def target_quota(request, pk):
    target = get_object_or_404(ComputeTarget.objects.select_related("cluster", "workspace"), pk=pk)
    form = forms.QuotaForm(
        request.POST or None,
        initial={
            "quota_cpu": target.quota_cpu,
            "quota_memory": target.quota_memory,
            "quota_gpu": target.quota_gpu,
            "quota_pods": target.quota_pods,
        },
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.target_set_quota(target=target, **form.cleaned_data)
                messages.success(request, f"Quota of {target.name} saved.")
                return redirect("target-admin")
            except ValidationError as exc:
                apply_errors(form, exc)
        status = 400
    return TemplateResponse(
        request, "compute/target_quota.html", {"target": target, "form": form}, status=status
    )


@itops_required
@require_POST
def target_delete(request, pk):
    target = get_object_or_404(ComputeTarget, pk=pk)
    try:
        services.target_delete(target=target)
        messages.success(
            request, f"Compute target {target.name} deleted (its namespace stays in the cluster)."
        )
    except Conflict as exc:
        messages.error(request, f"Cannot delete {target.name}: {exc}")
    return redirect("target-admin")


@itops_required
@require_POST
def request_review(request, pk):
    compute_request = get_object_or_404(ComputeRequest, pk=pk)
    form = forms.ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.request_review(
                request=compute_request,
                reviewer=request.user,
                approve=form.cleaned_data["decision"] == "approve",
                comment=form.cleaned_data["comment"],
                cluster=form.cleaned_data["cluster"],
            )
            messages.success(request, "Request reviewed; the requester sees the outcome.")
        except ValidationError as exc:
            messages.error(
                request,
                " ".join(exc.messages)
                if not hasattr(exc, "error_dict")
                else "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()),
            )
    else:
        messages.error(request, "Choose approve or decline.")
    return redirect("target-admin")


# ---- what members see ---------------------------------------------------------------------------


def _member_page(request, request_form=None, status=200):
    workspace = request.workspace
    if workspace is None:
        raise PermissionDenied("You are not a member of any workspace yet.")
    can_request = workspace.allows(request.user, Action.MANAGE)
    return TemplateResponse(
        request,
        "compute/target_list.html",
        {
            "workspace": workspace,
            "cards": selectors.targets_for(user=request.user, workspace=workspace),
            "requests": selectors.requests_for(user=request.user, workspace=workspace),
            "request_form": (request_form or forms.RequestForm(workspace=workspace))
            if can_request
            else None,
            "live_groups": [live.group_name("portal.workspace", workspace.pk)],
        },
        status=status,
    )


@login_required
def target_list(request):
    return _member_page(request)


@login_required
@require_POST
def request_create(request):
    workspace = request.workspace
    if workspace is None:
        raise PermissionDenied("You are not a member of any workspace yet.")
    workspace = get_for(type(workspace).objects, request.user, Action.MANAGE, pk=workspace.pk)
    form = forms.RequestForm(request.POST, workspace=workspace)
    if not form.is_valid():
        return _member_page(request, request_form=form, status=400)
    data = form.cleaned_data
    try:
        services.request_create(
            workspace=workspace,
            user=request.user,
            kind=data["kind"],
            justification=data["justification"],
            target=data["target"] if data["kind"] == RequestKind.QUOTA else None,
            name=data["name"],
            namespace=data["namespace"],
            quota_cpu=data["quota_cpu"],
            quota_memory=data["quota_memory"],
            quota_gpu=data["quota_gpu"],
            quota_pods=data["quota_pods"],
        )
    except ValidationError as exc:
        apply_errors(form, exc)
        return _member_page(request, request_form=form, status=400)
    messages.success(request, "Request sent to IT operations.")
    return redirect("target-list")
