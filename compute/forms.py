from django import forms

from compute.models import Cluster, ComputeTarget, InstanceType
from portal.models import Workspace

MAX_QUOTA = 2_147_483_647  # what the quota columns hold


class SecretTextarea(forms.Textarea):
    """A textarea that never sends back what was typed into it: a form shown again after an
    error must not carry a pasted kubeconfig (its token or client key) into the page."""

    def format_value(self, value):
        return None


class KubeconfigAttachForm(forms.Form):
    name = forms.SlugField(
        max_length=63, help_text="How the portal calls this cluster (lowercase, dashes)."
    )
    kubeconfig_file = forms.FileField(
        required=False, help_text="Upload a kubeconfig, or paste it below."
    )
    kubeconfig = forms.CharField(
        widget=SecretTextarea(attrs={"rows": 8}),
        required=False,
        label="Kubeconfig (pasted)",
        help_text="Not shown again after an error: paste it again.",
    )
    context = forms.CharField(
        required=False, help_text="Leave empty for the kubeconfig's current context."
    )
    description = forms.CharField(required=False)


class TokenAttachForm(forms.Form):
    name = forms.SlugField(max_length=63)
    server = forms.URLField(
        assume_scheme="https", label="API server URL", help_text="e.g. https://10.0.0.1:6443"
    )
    token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        help_text="A service account token; stored encrypted, never shown again.",
    )
    ca_certificate = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, label="CA certificate (PEM)"
    )
    insecure = forms.BooleanField(required=False, label="Skip TLS verification (testing only)")
    description = forms.CharField(required=False)


class ExtensionForm(forms.Form):
    training = forms.BooleanField(required=False, initial=True, label="Training jobs")
    inference = forms.BooleanField(required=False, initial=True, label="Inference deployments")
    node_selector = forms.CharField(
        required=False, help_text="Labels workload nodes must have, e.g. “pool=ml, zone=a”."
    )

    def clean_node_selector(self) -> dict:
        return parse_labels(self.cleaned_data["node_selector"])


def parse_labels(text: str) -> dict:
    """Reads "key=value, key=value" (commas or new lines) into a dict."""
    labels = {}
    for part in filter(None, (p.strip() for p in text.replace("\n", ",").split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"“{part}” is not key=value")
        labels[key.strip()] = value.strip()
    return labels


class InstanceTypeForm(forms.Form):
    name = forms.CharField(max_length=253, help_text="DNS-1123 name, e.g. gpu-small.")
    clusters = forms.ModelMultipleChoiceField(
        queryset=Cluster.objects.none(), help_text="Clusters to create it on."
    )
    description = forms.CharField(required=False, max_length=200)
    node_selector = forms.CharField(
        required=False, help_text="e.g. “accelerator=nvidia-a100”; empty: any node."
    )
    requests_cpu = forms.CharField(label="Requests: CPU", initial="1")
    requests_memory = forms.CharField(label="Requests: memory", initial="4Gi")
    limits_cpu = forms.CharField(label="Limits: CPU", initial="2")
    limits_memory = forms.CharField(label="Limits: memory", initial="8Gi")
    limits_gpu = forms.IntegerField(
        label="Limits: nvidia.com/gpu", required=False, min_value=0, max_value=MAX_QUOTA
    )

    def __init__(self, *args, editing: InstanceType | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clusters"].queryset = Cluster.objects.filter(extension_status="Installed")
        if editing is not None:
            del self.fields["clusters"]
            self.fields["name"].disabled = True

    def clean_node_selector(self) -> dict:
        return parse_labels(self.cleaned_data["node_selector"])

    def spec(self) -> dict:
        data = self.cleaned_data
        limits = {"cpu": data["limits_cpu"], "memory": data["limits_memory"]}
        if data.get("limits_gpu"):
            limits["nvidia.com/gpu"] = str(data["limits_gpu"])
        return {
            "node_selector": data["node_selector"],
            "requests": {"cpu": data["requests_cpu"], "memory": data["requests_memory"]},
            "limits": limits,
            "description": data.get("description", ""),
        }


FIELD_FOR_PATH = {
    "nodeSelector": "node_selector",
    "resources.requests.cpu": "requests_cpu",
    "resources.requests.memory": "requests_memory",
    "resources.limits.cpu": "limits_cpu",
    "resources.limits.memory": "limits_memory",
    "resources.limits.nvidia.com/gpu": "limits_gpu",
}


class ImportForm(forms.Form):
    cluster = forms.ModelChoiceField(queryset=Cluster.objects.filter(extension_status="Installed"))
    manifest = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="InstanceType or InstanceTypeList YAML (kubeportal.io/v1alpha1 or amlarc.azureml.com/v1alpha1).",
    )


class QuotaFields(forms.Form):
    quota_cpu = forms.CharField(
        required=False, max_length=20, label="CPU quota", help_text="e.g. 16; empty: none"
    )
    quota_memory = forms.CharField(
        required=False, max_length=20, label="Memory quota", help_text="e.g. 64Gi"
    )
    quota_gpu = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_QUOTA, label="GPU quota"
    )
    quota_pods = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_QUOTA, label="Pod quota"
    )


class TargetForm(QuotaFields):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.all())
    cluster = forms.ModelChoiceField(queryset=Cluster.objects.filter(extension_status="Installed"))
    name = forms.SlugField(max_length=63, help_text="What data scientists write as `compute:`.")
    namespace = forms.SlugField(max_length=63)
    create_namespace = forms.BooleanField(
        required=False, initial=True, label="Create the namespace if it does not exist"
    )
    allowed_instance_types = forms.ModelMultipleChoiceField(
        queryset=InstanceType.objects.select_related("cluster"),
        required=False,
        help_text="Leave empty to allow all of the cluster's instance types.",
    )
    description = forms.CharField(required=False)


class QuotaForm(QuotaFields):
    pass


class RequestForm(QuotaFields):
    kind = forms.ChoiceField(
        choices=[("target", "A new compute target"), ("quota", "A quota change")]
    )
    target = forms.ModelChoiceField(
        queryset=ComputeTarget.objects.none(), required=False, help_text="For a quota change."
    )
    name = forms.SlugField(required=False, max_length=63, help_text="For a new target.")
    namespace = forms.SlugField(required=False, max_length=63, help_text="For a new target.")
    justification = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, workspace=None, **kwargs):
        super().__init__(*args, **kwargs)
        if workspace is not None:
            self.fields["target"].queryset = workspace.compute_targets.all()


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline")])
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.filter(extension_status="Installed"),
        required=False,
        help_text="For a new target.",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
