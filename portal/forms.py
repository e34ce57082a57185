from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator

from portal.models import Role, TokenScope, User, Workspace


class WorkspaceForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ["name", "slug", "description"]
        help_texts = {"slug": "Lowercase letters, digits and dashes; used in URLs and labels."}


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="The user's login name.")
    role = forms.ChoiceField(choices=Role.choices)

    def clean_username(self) -> User:
        username = self.cleaned_data["username"].strip()
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                f"No active user is called “{username}”. Check the spelling."
            )
        return user


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="What the token is for, e.g. “laptop CLI” or “CI pipeline”."
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.FULL,
        required=False,
        help_text="Read only: the token can look but never change anything.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", min_value=1, max_value=100_000, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        maximum = max(1, settings.TOKEN_MAX_DAYS)
        field = self.fields["expires_in_days"]
        field.initial = min(max(1, settings.TOKEN_DAYS), maximum)
        field.max_value = maximum
        field.widget.attrs["max"] = maximum
        field.validators = [v for v in field.validators if not hasattr(v, "limit_value")]
        field.validators += [MinValueValidator(1), MaxValueValidator(maximum)]
        field.help_text = f"At most {maximum} days."
