from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

urlpatterns = [
    path("", include("classifier_site.info.urls")),  # home, Model data, the health check and the icon
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the header's language switcher
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript_catalog"),  # the page scripts' strings
    path("accounts/", include("classifier_site.accounts.urls")),  # sign-up, log-in and passwords
    path("chat/", include("chat.urls")),
    path("", include("classifier.urls")),
    path(settings.ADMIN_PATH, admin.site.urls),
]

handler400 = "classifier_site.views.bad_request"
handler500 = "classifier_site.views.server_error"
