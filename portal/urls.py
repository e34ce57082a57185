from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import sso, views

api_patterns = [
    path("", include("portal.api.urls")),
    path("", include("compute.api.urls")),
    path("", include("assets.api.urls")),
    path("", include("jobs.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers and tools ask for /favicon.ico whatever the page links.
    path("favicon.ico", views.favicon, name="favicon"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("oidc/authenticate/", sso.SignInView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", sso.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("workspaces/", views.workspace_list, name="workspace-list"),
    path("workspaces/new", views.workspace_create, name="workspace-create"),
    path("workspaces/switch", views.workspace_switch, name="workspace-switch"),
    path("workspaces/<slug:slug>/", views.workspace_detail, name="workspace-detail"),
    path("workspaces/<slug:slug>/members", views.member_set, name="member-set"),
    path(
        "workspaces/<slug:slug>/members/<int:membership_id>/remove",
        views.member_remove,
        name="member-remove",
    ),
    path("account/tokens/", views.token_list, name="token-list"),
    path("account/tokens/new", views.token_create, name="token-create"),
    path("account/tokens/<int:token_id>/revoke", views.token_revoke, name="token-revoke"),
    path("user-tokens/", views.user_token_list, name="user-token-list"),
    path("user-tokens/<int:token_id>/revoke", views.user_token_revoke, name="user-token-revoke"),
    path("audit/", views.audit_list, name="audit-list"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("", include("compute.urls")),
    path("", include("assets.urls")),
    path("", include("jobs.urls")),
    path("", include("tracking.urls")),
    path("api/v1/", include((api_patterns, "api"), namespace="api")),
    path("admin/", admin.site.urls),
]
