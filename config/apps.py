from django.apps import AppConfig


class QuanyuConfig(AppConfig):
    """The project package itself: management commands (setup, periodic tasks) and roles."""

    name = "config"
    label = "quanyu"
    verbose_name = "Quanyu"
