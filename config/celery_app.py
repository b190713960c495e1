"""The Celery application. Settings come from Django's (``CELERY_*``); tasks are found in the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("installments_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
