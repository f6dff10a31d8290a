from django.urls import path

from analytics import views

app_name = "analytics"

# Included at the site root: the dashboard is the home page.
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
