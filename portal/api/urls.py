from django.urls import path
from rest_framework.routers import DefaultRouter

from portal.api import views

router = DefaultRouter()
router.register("workspaces", views.WorkspaceViewSet, basename="workspace")
router.register(
    r"workspaces/(?P<slug>[-a-z0-9]+)/members", views.MembershipViewSet, basename="member"
)
router.register("tokens", views.TokenViewSet, basename="token")
router.register("user-tokens", views.UserTokenViewSet, basename="user-token")
router.register("audit", views.AuditViewSet, basename="audit")

urlpatterns = [path("me/", views.me, name="api-me"), *router.urls]
