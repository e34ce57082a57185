from rest_framework import serializers

from assets.models import Environment, Model


class EnvironmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Environment
        fields = ["name", "version", "image", "description", "created_at"]
        read_only_fields = ["created_at"]


class ModelFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()


class ModelVersionSerializer(serializers.ModelSerializer):
    files = ModelFileSerializer(many=True, read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reference = serializers.CharField(read_only=True)

    class Meta:
        model = Model
        fields = [
            "name",
            "version",
            "type",
            "description",
            "tags",
            "archived",
            "reference",
            "source_kind",
            "source",
            "files",
            "size",
            "job_name",
            "run_id",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ModelCreateSerializer(serializers.Serializer):
    """A new model version: JSON with ``path`` (runs:/..., azureml://jobs/..., http(s)://...,
    pvc://...), or multipart with ``archive`` (a .tar/.tar.gz of a folder) or ``file``."""

    name = serializers.CharField(max_length=255)
    version = serializers.CharField(max_length=64, required=False, allow_blank=True)
    type = serializers.CharField(max_length=20, required=False, default="custom_model")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.JSONField(required=False, default=dict)
    path = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    archive = serializers.FileField(required=False)
    file = serializers.FileField(required=False)
