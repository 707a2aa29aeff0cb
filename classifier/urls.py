from django.urls import path, re_path

from classifier import api, views

urlpatterns = [
    path("predict/", views.predict, name="predict"),
    path("predict/results/", views.predict_results, name="predict_results"),
    path("predictions/", views.prediction_list, name="prediction_list"),
    path("predictions/<int:pk>/", views.prediction_detail, name="prediction_detail"),
    path("predictions/<int:pk>/feedback/", views.prediction_feedback, name="prediction_feedback"),
    path("predictions/<int:pk>/delete/", views.prediction_delete, name="prediction_delete"),
    path("predictions/<int:pk>/image", views.prediction_image, name="prediction_image"),
    path("predictions/<int:pk>/model-input.png", views.prediction_model_input, name="prediction_model_input"),
    path("predictions/<int:pk>/heat-map.png", views.prediction_heat_map, name="prediction_heat_map"),
    path("accounts/tokens/", views.api_tokens, name="api_tokens"),
    path("accounts/tokens/<int:pk>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("api/v1/predictions", api.predictions, name="api_predictions"),
    path("api/v1/predictions/<int:pk>", api.prediction, name="api_prediction"),
    path("api/v1/predictions/<int:pk>/feedback", api.prediction_feedback, name="api_prediction_feedback"),
    path("api/v1/openapi.json", api.openapi, name="api_openapi"),
    re_path(r"^api/(?P<path>[\s\S]*)$", api.not_found),  # [\s\S]: a path with a newline (%0A) is still the API's
]
