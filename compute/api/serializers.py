from rest_framework import serializers

from compute.models import Cluster, ComputeRequest, ComputeTarget, InstanceType
from portal.api.inputs import MAX_INT


class ClusterSerializer(serializers.ModelSerializer):
    """A cluster as the API shows it: never its credentials."""

    class Meta:
        model = Cluster
        fields = [
            "id",
            "name",
            "description",
            "server",
            "is_sandbox",
            "status",
            "status_reason",
            "missing_permissions",
            "server_version",
            "node_count",
            "last_checked_at",
            "last_synced_at",
            "extension_status",
            "extension_steps",
            "training_enabled",
            "inference_enabled",
            "workload_node_selector",
        ]
        read_only_fields = fields


class AttachSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=63)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kubeconfig = serializers.CharField(required=False, allow_blank=True, write_only=True)
    context = serializers.CharField(required=False, allow_blank=True)
    server = serializers.URLField(required=False)
    token = serializers.CharField(required=False, write_only=True)
    ca_certificate = serializers.CharField(required=False, allow_blank=True, write_only=True)
    insecure = serializers.BooleanField(required=False, default=False)

    def validate(self, data):
        if not data.get("kubeconfig") and not (data.get("server") and data.get("token")):
            raise serializers.ValidationError(
                {"kubeconfig": "Give a kubeconfig, or a server URL and a token."}
            )
        return data


class ExtensionSerializer(serializers.Serializer):
    training = serializers.BooleanField(default=True)
    inference = serializers.BooleanField(default=True)
    node_selector = serializers.DictField(child=serializers.CharField(), default=dict)


class InstanceTypeSerializer(serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField(slug_field="name", queryset=Cluster.objects.all())
    fits = serializers.BooleanField(source="fits_somewhere", read_only=True)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not request.user.is_itops:
            data["fitting_nodes"] = []  # node names are for IT operations only
        return data

    class Meta:
        model = InstanceType
        fields = [
            "id",
            "name",
            "cluster",
            "description",
            "node_selector",
            "requests",
            "limits",
            "origin",
            "sync_state",
            "sync_message",
            "fitting_nodes",
            "free_slots",
            "capacity_slots",
            "fits",
        ]
        read_only_fields = [
            "id",
            "origin",
            "sync_state",
            "sync_message",
            "fitting_nodes",
            "free_slots",
            "capacity_slots",
            "fits",
        ]


class TargetInstanceTypeSerializer(serializers.ModelSerializer):
    fits = serializers.BooleanField(source="fits_somewhere", read_only=True)

    class Meta:
        model = InstanceType
        fields = [
            "name",
            "requests",
            "limits",
            "node_selector",
            "free_slots",
            "capacity_slots",
            "fits",
        ]


class ComputeTargetSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    quota = serializers.SerializerMethodField()
    instance_types = serializers.SerializerMethodField()

    class Meta:
        model = ComputeTarget
        fields = [
            "id",
            "name",
            "workspace",
            "cluster",
            "namespace",
            "description",
            "status",
            "status_reason",
            "quota_cpu",
            "quota_memory",
            "quota_gpu",
            "quota_pods",
            "quota",
            "instance_types",
        ]
        read_only_fields = fields

    def get_quota(self, target) -> list[dict]:
        return target.quota_rows()

    def get_instance_types(self, target) -> list[dict]:
        return TargetInstanceTypeSerializer(target.usable_instance_types(), many=True).data


class TargetCreateSerializer(serializers.Serializer):
    workspace = serializers.SlugField()
    cluster = serializers.SlugField()
    name = serializers.SlugField(max_length=63)
    namespace = serializers.SlugField(max_length=63)
    create_namespace = serializers.BooleanField(default=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    quota_cpu = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    quota_memory = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20
    )
    quota_gpu = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_INT, default=None
    )
    quota_pods = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_INT, default=None
    )
    allowed_instance_types = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )


class QuotaSerializer(serializers.Serializer):
    quota_cpu = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    quota_memory = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20
    )
    quota_gpu = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_INT, default=None
    )
    quota_pods = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_INT, default=None
    )


class ComputeRequestSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reviewed_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    target = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = ComputeRequest
        fields = [
            "id",
            "workspace",
            "kind",
            "target",
            "name",
            "namespace",
            "quota_cpu",
            "quota_memory",
            "quota_gpu",
            "quota_pods",
            "justification",
            "status",
            "requested_by",
            "reviewed_by",
            "review_comment",
            "reviewed_at",
            "created_at",
        ]
        read_only_fields = fields


class RequestCreateSerializer(QuotaSerializer):
    workspace = serializers.SlugField()
    kind = serializers.ChoiceField(choices=["target", "quota"])
    target = serializers.CharField(required=False, allow_blank=True, default="", max_length=63)
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=63)
    namespace = serializers.CharField(required=False, allow_blank=True, default="", max_length=63)
    justification = serializers.CharField()


class ReviewSerializer(serializers.Serializer):
    approve = serializers.BooleanField()
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    cluster = serializers.SlugField(required=False)
