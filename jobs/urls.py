from django.urls import path

from jobs import views

urlpatterns = [
    path("jobs/", views.job_list_current, name="job-list-current"),
    path("jobs/<slug:slug>/", views.job_list, name="job-list"),
    path("jobs/<slug:slug>/new", views.job_new, name="job-new"),
    path("jobs/<slug:slug>/validate", views.job_validate, name="job-validate"),
    path("jobs/<slug:slug>/<slug:name>/", views.job_detail, name="job-detail"),
    path("jobs/<slug:slug>/<slug:name>/cancel", views.job_cancel, name="job-cancel"),
    path("jobs/<slug:slug>/<slug:name>/clone", views.job_clone, name="job-clone"),
    path("jobs/<slug:slug>/<slug:name>/delete", views.job_delete, name="job-delete"),
]
