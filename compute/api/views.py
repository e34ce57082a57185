"""REST API of the compute app; the same access rules and services as the pages."""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response

from compute import kubeconfig, selectors, services
from compute.api import serializers as s
from compute.kube.client import AccessError, token_access
from compute.models import Cluster, ComputeRequest, ComputeTarget
from portal.access import get_for
from portal.api.inputs import NumericLookup
from portal.models import Action, Workspace


def require_itops(request) -> None:
    if not getattr(request.user, "is_itops", False):
        raise PermissionDenied("Only IT operations may do this.")


class ClusterViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ClusterSerializer
    lookup_field = "name"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Cluster.objects.none()
        require_itops(self.request)
        return Cluster.objects.visible_to(self.request.user)

    @extend_schema(request=s.AttachSerializer, responses={202: s.ClusterSerializer})
    def create(self, request):
        """Attaches a cluster from a kubeconfig, or a server URL and token; the check runs in the background."""
        require_itops(request)
        data = s.AttachSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            if v.get("kubeconfig"):
                access = kubeconfig.read(v["kubeconfig"], v.get("context") or None)
            else:
                access = token_access(
                    v["server"], v["token"], v.get("ca_certificate", ""), insecure=v["insecure"]
                )
        except AccessError as exc:
            raise ApiValidationError({exc.field: [exc.message]}) from None
        except kubeconfig.KubeconfigError as exc:
            field = "context" if str(exc).startswith("Unknown context") else "kubeconfig"
            raise ApiValidationError({field: [str(exc)]}) from None
        cluster = services.cluster_attach(
            name=v["name"], access=access, description=v["description"]
        )
        return Response(s.ClusterSerializer(cluster).data, status=status.HTTP_202_ACCEPTED)

    def destroy(self, request, name):
        services.cluster_delete(cluster=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.ClusterSerializer})
    @action(detail=True, methods=["post"])
    def recheck(self, request, name):
        cluster = self.get_object()
        services.cluster_recheck(cluster=cluster)
        return Response(s.ClusterSerializer(cluster).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.ExtensionSerializer, responses={202: s.ClusterSerializer})
    @action(detail=True, methods=["post"], url_path="extension/install")
    def install_extension(self, request, name):
        cluster = self.get_object()
        data = s.ExtensionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.extension_install(
            cluster=cluster,
            training=data.validated_data["training"],
            inference=data.validated_data["inference"],
            node_selector=data.validated_data["node_selector"],
        )
        cluster.refresh_from_db()
        return Response(s.ClusterSerializer(cluster).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: s.ClusterSerializer})
    @action(detail=True, methods=["post"], url_path="extension/uninstall")
    def uninstall_extension(self, request, name):
        cluster = self.get_object()
        services.extension_uninstall(cluster=cluster)
        cluster.refresh_from_db()
        return Response(s.ClusterSerializer(cluster).data, status=status.HTTP_202_ACCEPTED)


class InstanceTypeViewSet(NumericLookup, viewsets.ModelViewSet):
    serializer_class = s.InstanceTypeSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("workspace", str),
            OpenApiParameter("compute", str),
            OpenApiParameter("cluster", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = selectors.instance_types_usable_by(self.request.user).select_related("cluster")
        params = self.request.query_params
        if params.get("cluster"):
            qs = qs.filter(cluster__name=params["cluster"])
        if params.get("workspace") and params.get("compute"):
            target = (
                ComputeTarget.objects.visible_to(self.request.user)
                .filter(workspace__slug=params["workspace"], name=params["compute"])
                .first()
            )
            qs = target.usable_instance_types().select_related("cluster") if target else qs.none()
        return qs

    def _save(self, request, instance=None):
        require_itops(request)
        data = s.InstanceTypeSerializer(instance, data=request.data, partial=instance is not None)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        cluster = v.get("cluster") or instance.cluster
        saved = services.instance_type_save(
            cluster=cluster,
            name=v.get("name", instance.name if instance else ""),
            description=v.get("description", ""),
            node_selector=v.get("node_selector", instance.node_selector if instance else {}),
            requests=v.get("requests", instance.requests if instance else {}),
            limits=v.get("limits", instance.limits if instance else {}),
            instance=instance,
        )
        return Response(
            s.InstanceTypeSerializer(saved).data,
            status=status.HTTP_200_OK if instance else status.HTTP_201_CREATED,
        )

    def create(self, request):
        return self._save(request)

    def update(self, request, pk=None, partial=False):
        return self._save(request, self.get_object())

    def partial_update(self, request, pk=None):
        return self._save(request, self.get_object())

    def destroy(self, request, pk=None):
        require_itops(request)
        services.instance_type_delete(instance=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ComputeTargetViewSet(
    NumericLookup, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ComputeTargetSerializer

    @extend_schema(parameters=[OpenApiParameter("workspace", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        qs = ComputeTarget.objects.visible_to(self.request.user).select_related(
            "cluster", "workspace"
        )
        if self.request.query_params.get("workspace"):
            qs = qs.filter(workspace__slug=self.request.query_params["workspace"])
        return qs

    @extend_schema(request=s.TargetCreateSerializer, responses={202: s.ComputeTargetSerializer})
    def create(self, request):
        require_itops(request)
        data = s.TargetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        workspace = Workspace.objects.filter(slug=v.pop("workspace")).first()
        cluster = Cluster.objects.filter(name=v.pop("cluster")).first()
        if workspace is None or cluster is None:
            raise ApiValidationError(
                {"workspace" if workspace is None else "cluster": ["No such workspace or cluster."]}
            )
        names = v.pop("allowed_instance_types")
        allowed = list(cluster.instance_types.filter(name__in=names))
        unknown = set(names) - {it.name for it in allowed}
        if unknown:
            raise ApiValidationError(
                {"allowed_instance_types": [f"{', '.join(sorted(unknown))} not on {cluster.name}"]}
            )
        target = services.target_create(
            workspace=workspace,
            cluster=cluster,
            created_by=request.user,
            allowed_instance_types=allowed,
            **v,
        )
        return Response(s.ComputeTargetSerializer(target).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.QuotaSerializer, responses=s.ComputeTargetSerializer)
    @action(detail=True, methods=["post"])
    def quota(self, request, pk=None):
        require_itops(request)
        target = self.get_object()
        data = s.QuotaSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.target_set_quota(target=target, **data.validated_data)
        return Response(s.ComputeTargetSerializer(target).data)

    def destroy(self, request, pk=None):
        require_itops(request)
        services.target_delete(target=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ComputeRequestViewSet(
    NumericLookup, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ComputeRequestSerializer

    def get_queryset(self):
        return ComputeRequest.objects.visible_to(self.request.user).select_related(
            "workspace", "requested_by", "reviewed_by", "target"
        )

    @extend_schema(request=s.RequestCreateSerializer, responses={201: s.ComputeRequestSerializer})
    def create(self, request):
        data = s.RequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        workspace = get_for(Workspace.objects, request.user, Action.MANAGE, slug=v.pop("workspace"))
        target_name = v.pop("target")
        target = workspace.compute_targets.filter(name=target_name).first() if target_name else None
        if target_name and target is None:
            raise ApiValidationError(
                {"target": [f"Workspace {workspace.slug} has no compute target {target_name}."]}
            )
        created = services.request_create(
            workspace=workspace, user=request.user, target=target, **v
        )
        return Response(s.ComputeRequestSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReviewSerializer, responses=s.ComputeRequestSerializer)
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        require_itops(request)
        pending = self.get_object()
        data = s.ReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cluster = Cluster.objects.filter(name=data.validated_data.get("cluster", "")).first()
        with transaction.atomic():
            reviewed = services.request_review(
                request=pending,
                reviewer=request.user,
                approve=data.validated_data["approve"],
                comment=data.validated_data["comment"],
                cluster=cluster,
            )
        return Response(s.ComputeRequestSerializer(reviewed).data)
