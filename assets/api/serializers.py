from rest_framework import serializers

from assets.models import Environment


class EnvironmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Environment
        fields = ["name", "version", "image", "description", "created_at"]
        read_only_fields = ["created_at"]
