"""The Celery app. Tasks live in each app's tasks.py; periodic ones are declared in
config/periodic.py and installed by `manage.py setup_periodic_tasks`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("quanyu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
