"""The test suite: real PostgreSQL, either ``DATABASE_URL`` or a throw-away embedded server."""

from .base import *  # noqa: F403
from .base import database_config, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-any-deployment-0123456789"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if env("DATABASE_URL", default=""):
    DATABASES = {"default": database_config(env("DATABASE_URL"))}
else:
    from config.embedded_db import throwaway_database_url

    DATABASES = {"default": database_config(throwaway_database_url())}

# Connections are not kept between requests in tests: parallel-thread tests open their own.
DATABASES["default"]["CONN_MAX_AGE"] = 0
