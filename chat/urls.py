from django.urls import path

from chat import views

urlpatterns = [
    path("", views.chat_index, name="chat_index"),
    path("send/", views.chat_start, name="chat_start"),
    path("about-prediction/<int:prediction_pk>/", views.chat_about_prediction, name="chat_about_prediction"),
    path("<int:pk>/", views.chat_conversation, name="chat_conversation"),
    path("<int:pk>/rename/", views.chat_rename, name="chat_rename"),
    path("<int:pk>/delete/", views.chat_delete, name="chat_delete"),
    path("<int:pk>/send/", views.chat_send, name="chat_send"),
    path("<int:pk>/regenerate/", views.chat_regenerate, name="chat_regenerate"),
    path("messages/<int:message_pk>/stop/", views.chat_stop, name="chat_stop"),
]
