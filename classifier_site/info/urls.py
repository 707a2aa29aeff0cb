from django.urls import path

from classifier_site.info import views

urlpatterns = [
    path("", views.home, name="home"),
    path("model/", views.model_data, name="model_data"),
    path("model/examples/<str:version>/<str:file_name>", views.model_example, name="model_example"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
]
