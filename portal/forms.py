from django import forms

from portal.models import Role, User, Workspace


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
