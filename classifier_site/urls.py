from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from classifier_site import views

urlpatterns = [
    path("", views.home, name="home"),
    path("model/", views.model_data, name="model_data"),
    path("model/examples/<str:version>/<str:file_name>", views.model_example, name="model_example"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("chat/", include("chat.urls")),
    path("", include("classifier.urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
]

handler500 = "classifier_site.views.server_error"
