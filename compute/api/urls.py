from rest_framework.routers import SimpleRouter

from compute.api import views

router = SimpleRouter()
router.register("clusters", views.ClusterViewSet, basename="cluster")
router.register("instance-types", views.InstanceTypeViewSet, basename="instance-type")
router.register("compute-targets", views.ComputeTargetViewSet, basename="compute-target")
router.register("compute-requests", views.ComputeRequestViewSet, basename="compute-request")
urlpatterns = router.urls
