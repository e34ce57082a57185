from django import forms


class EnvironmentForm(forms.Form):
    name = forms.CharField(max_length=255)
    version = forms.CharField(max_length=64, initial="1")
    image = forms.CharField(
        max_length=500, help_text="e.g. pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
