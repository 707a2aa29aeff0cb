from django.apps import AppConfig


class InfoConfig(AppConfig):
    """The pages about the site and its model: home, Model data and the health check."""

    name = "classifier_site.info"
    label = "info"
