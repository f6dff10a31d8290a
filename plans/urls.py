from django.urls import path

from plans import add_on_views, views

app_name = "plans"

# Included at the site root: Lago's UI routes are /billable-metrics, /plans and /add-ons.
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
    path("add-ons/", add_on_views.add_on_list, name="add_on_list"),
    path("add-ons/new/", add_on_views.add_on_create, name="add_on_create"),
    path("add-ons/<uuid:add_on_id>/edit/", add_on_views.add_on_edit, name="add_on_edit"),
    path("add-ons/<uuid:add_on_id>/delete/", add_on_views.add_on_delete, name="add_on_delete"),
]
