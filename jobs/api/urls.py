from django.urls import path
from rest_framework.routers import SimpleRouter

from jobs.api import views

router = SimpleRouter()
router.register(r"workspaces/(?P<slug>[-a-z0-9]+)/jobs", views.JobViewSet, basename="job")

urlpatterns = [
    path("job-code/<int:job_id>/", views.job_code, name="job-code"),
    *router.urls,
]
