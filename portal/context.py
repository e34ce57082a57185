from django.urls import reverse

from portal import nav
from portal.models import Role, Workspace


def navigation(request) -> dict:
    """Navigation entries, the workspace switcher and the current role for the base layout."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    workspace = getattr(request, "workspace", None)
    role = workspace.role_of(user) if workspace else None
    admin_section = "itops" if user.is_itops else "member"
    entries = [
        {
            "label": i.label,
            "url": reverse(i.url_name),
            "section": admin_section if i.audience == "admin" else i.audience,
        }
        for i in nav.items_for(user, workspace, role)
    ]
    current = request.path
    for entry in entries:
        entry["current"] = entry["url"] == current or (
            entry["url"] != "/" and current.startswith(entry["url"])
        )
    titles = {
        "all": "",
        "member": workspace.name if workspace else "",
        "itops": "Cluster administration",
    }
    sections = [
        {"title": titles[key], "entries": [e for e in entries if e["section"] == key]}
        for key in ("all", "member", "itops")
    ]
    return {
        "nav_sections": [section for section in sections if section["entries"]],
        "nav_workspaces": Workspace.objects.visible_to(user).only("pk", "name", "slug"),
        "current_workspace": workspace,
        "current_role": role,
        "current_role_label": Role(role).label if role else None,
    }
