from rest_framework import serializers

from jobs.models import Job
from tracking import serialize
from tracking.models import LatestMetric


class JobSerializer(serializers.ModelSerializer):
    compute = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    url = serializers.SerializerMethodField()
    api_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "display_name",
            "status",
            "status_reason",
            "experiment_name",
            "description",
            "tags",
            "compute",
            "instance_type",
            "instance_count",
            "priority",
            "image",
            "created_by",
            "created_at",
            "started_at",
            "ended_at",
            "url",
            "api_url",
        ]
        read_only_fields = fields

    def get_url(self, job) -> str:
        return f"/jobs/{job.workspace.slug}/{job.name}/"

    def get_api_url(self, job) -> str:
        return f"/api/v1/workspaces/{job.workspace.slug}/jobs/{job.name}/"


class JobDetailSerializer(JobSerializer):
    spec = serializers.JSONField(read_only=True)
    spec_yaml = serializers.CharField(read_only=True)
    transitions = serializers.SerializerMethodField()
    instances = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [
            *JobSerializer.Meta.fields,
            "spec",
            "spec_yaml",
            "transitions",
            "instances",
            "run_id",
            "artifact_root",
            "metrics",
        ]
        read_only_fields = fields

    run_id = serializers.SerializerMethodField()
    artifact_root = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()

    def get_run_id(self, job) -> str | None:
        return job.run.run_id if job.run_id else None

    def get_artifact_root(self, job) -> str | None:
        return job.run.artifact_root if job.run_id else None

    def get_metrics(self, job) -> list[dict]:
        """The run's latest value of each metric."""
        if not job.run_id:
            return []
        rows = LatestMetric.objects.filter(run_id=job.run_id).order_by("key")
        return [
            {"key": m.key, "value": serialize.number(m.value, m.is_nan), "step": m.step}
            for m in rows
        ]

    def get_transitions(self, job) -> list[dict]:
        return [
            {"from": t.from_status, "to": t.to_status, "reason": t.reason, "at": t.at.isoformat()}
            for t in job.transitions.all()
        ]

    def get_instances(self, job) -> list[dict]:
        return [
            {
                "index": i.index,
                "pod": i.pod,
                "phase": i.phase,
                "node": i.node,
                "state": i.state,
                "reason": i.reason,
                "exit_code": i.exit_code,
                "restarts": i.restarts,
            }
            for i in job.instances.all()
        ]


class SubmitSerializer(serializers.Serializer):
    yaml = serializers.CharField(
        required=False,
        allow_blank=False,
        trim_whitespace=False,
        help_text="The job spec as YAML text (stored verbatim).",
    )
    spec = serializers.DictField(required=False, help_text="The job spec as JSON.")
    overrides = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        default=dict,
        help_text='Dotted paths to values, e.g. {"compute": "gpu-target"}.',
    )

    def validate(self, data):
        if not data.get("yaml") and not data.get("spec"):
            raise serializers.ValidationError(
                {"yaml": "Give the spec as `yaml` text or as a `spec` object."}
            )
        return data


class CloneSerializer(serializers.Serializer):
    overrides = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False, default=dict
    )
