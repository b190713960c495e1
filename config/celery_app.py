"""The Celery application. Settings come from Django's (``CELERY_*``); tasks are found in the apps.

Worker and beat log through Django's ``LOGGING`` (JSON lines in production), not Celery's own
format, and every task message carries the request id of the request that published it
(``config.observability``)."""

import os

from celery import Celery
from celery.signals import setup_logging

from config.observability import connect_celery_signals

# Development's default (`make worker`, `make beat`). Production's worker and beat name
# config.settings.production (Procfile, docker-compose.yml, the image, README.md's Production).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("installments_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
connect_celery_signals()


@setup_logging.connect(weak=False)
def _use_django_logging(**_: object) -> None:
    """A receiver here stops Celery from configuring logging itself; Django's ``LOGGING`` applies."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
