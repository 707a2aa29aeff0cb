from django.urls import include, path

from classifier_site.accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    # Django's own views but for their forms, which revoke API tokens with the old password: before its URLs.
    path("password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("", include("django.contrib.auth.urls")),
]
