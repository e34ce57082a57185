from django import forms


class JobForm(forms.Form):
    """The structured job form; it builds the same spec the YAML editor submits."""

    EXAMPLE = (
        "$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json\n"
        "type: command\n"
        "experiment_name: hello\n"
        'command: echo "hello world"\n'
        "environment:\n  image: python:3.11-slim\n"
        "compute: azureml:{target}\n"
    )

    @classmethod
    def example(cls, workspace) -> str:
        """The YAML editor's starting text, on a compute target of ``workspace`` (a
        placeholder name when it has none yet)."""
        first = workspace.compute_targets.order_by("name").values_list("name", flat=True).first()
        return cls.EXAMPLE.format(target=first or "your-compute-target")

    name = forms.SlugField(
        required=False, max_length=63, help_text="Optional; a name is generated when empty."
    )
    experiment_name = forms.CharField(initial="Default", max_length=255)
    compute = forms.ChoiceField(help_text="The compute target (cluster and namespace) to run on.")
    instance_type = forms.ChoiceField(
        required=False, help_text="Free now / fits at most, from the last sync."
    )
    instance_count = forms.IntegerField(min_value=1, max_value=64, initial=1)
    image = forms.CharField(
        required=False,
        max_length=500,
        help_text="A container image, or pick a registered environment.",
    )
    environment = forms.ChoiceField(required=False)
    command = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    environment_variables = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="KEY=value, one per line.",
    )
    inputs = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="name=value or name=https://… or name=pvc://claim/path, one per line.",
    )
    timeout = forms.IntegerField(required=False, min_value=1, label="Timeout (seconds)")
    code = forms.FileField(
        required=False, help_text="A .tar.gz of your code folder (the CLI packs it for you)."
    )

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        targets = list(workspace.compute_targets.select_related("cluster"))
        self.fields["compute"].choices = [
            (t.name, f"{t.name} ({t.cluster.name}/{t.namespace})") for t in targets
        ]
        choices = [("", "defaultinstancetype")]
        for target in targets:
            for it in target.usable_instance_types():
                label = (
                    f"{it.name} on {target.name}: {it.free_slots} free now"
                    if it.fitting_nodes
                    else f"{it.name} on {target.name}: fits no node"
                )
                choices.append((it.name, label))
        self.fields["instance_type"].choices = list(dict(choices).items())
        self.fields["environment"].choices = [("", "—")] + [
            (f"azureml:{e.name}:{e.version}", f"{e.name}:{e.version} ({e.image})")
            for e in workspace.environments.all()
        ]

    def clean(self):
        data = super().clean()
        if not data.get("image") and not data.get("environment"):
            self.add_error("image", "Give an image or choose a registered environment.")
        return data

    def to_spec(self) -> dict:
        data = self.cleaned_data
        spec: dict = {
            "type": "command",
            "experiment_name": data["experiment_name"],
            "command": data["command"],
            "compute": data["compute"],
            "environment": data["environment"] or {"image": data["image"]},
            "resources": {"instance_count": data["instance_count"]},
        }
        if data.get("name"):
            spec["name"] = data["name"]
        if data.get("instance_type"):
            spec["resources"]["instance_type"] = data["instance_type"]
        if data.get("timeout"):
            spec["limits"] = {"timeout": data["timeout"]}
        env = _pairs(data.get("environment_variables", ""), "environment_variables")
        if env:
            spec["environment_variables"] = env
        inputs = _pairs(data.get("inputs", ""), "inputs")
        if inputs:
            spec["inputs"] = {k: ({"path": v} if "://" in v else v) for k, v in inputs.items()}
        return spec


def _pairs(text: str, field: str) -> dict:
    """Reads KEY=value lines (values may hold commas) into a dict; errors name ``field``."""
    pairs = {}
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        key, sep, value = line.partition("=")
        if not sep:
            raise forms.ValidationError({field: f"“{line}” is not KEY=value"})
        pairs[key.strip()] = value.strip()
    return pairs
