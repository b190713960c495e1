"""Development and ``make run``: the embedded PostgreSQL unless ``DATABASE_URL`` is set."""

from .base import *  # noqa: F403
from .base import BASE_DIR, database_config, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-only-key-do-not-deploy")

if env("DATABASE_URL", default=""):
    DATABASES = {"default": database_config(env("DATABASE_URL"))}
else:
    from config.embedded_db import embedded_database_url

    DATABASES = {"default": database_config(embedded_database_url(data_dir=BASE_DIR / ".pgdata"))}
