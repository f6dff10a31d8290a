from django.urls import path

from plans import views

app_name = "plans"

# Included at the site root: Lago's UI routes are /billable-metrics and /plans.
urlpatterns = [
    path("billable-metrics/", views.metric_list, name="metric_list"),
    path("billable-metrics/new/", views.metric_create, name="metric_create"),
    path("billable-metrics/<uuid:metric_id>/edit/", views.metric_edit, name="metric_edit"),
    path("billable-metrics/<uuid:metric_id>/delete/", views.metric_delete, name="metric_delete"),
    path("plans/", views.plan_list, name="plan_list"),
    path("plans/new/", views.plan_create, name="plan_create"),
    path("plans/<uuid:plan_id>/", views.plan_detail, name="plan_detail"),
    path("plans/<uuid:plan_id>/edit/", views.plan_edit, name="plan_edit"),
    path("plans/<uuid:plan_id>/delete/", views.plan_delete, name="plan_delete"),
]
