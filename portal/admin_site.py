from django.contrib.admin import AdminSite


class PortalAdminSite(AdminSite):
    site_header = "Kube portal administration"
    site_title = "Kube portal admin"

    def has_permission(self, request) -> bool:
        user = request.user
        return bool(user.is_active and user.is_authenticated and user.is_itops and user.is_staff)
