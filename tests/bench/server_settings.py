"""Settings of the gunicorn server that ``tests/bench/bench_api.py`` starts; never a deployment's.

The product's base settings with DEBUG off, the database the benchmark exports as ``DATABASE_URL``,
persistent connections (as in production) and a URL conf that adds one bare DRF endpoint for the
comparison. ``API_RATE_PER_KEY`` comes from the environment (the benchmark sets it high, so the
throttle runs but never refuses). The throttle's cache is the default per-process memory cache
unless ``BENCH_REDIS_URL`` is set, in which case it is Redis, as in production."""

from config.settings.base import *  # noqa: F403
from config.settings.base import database_config, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="bench-only-secret-key-not-for-any-deployment-0123456789")
DATABASES = {"default": database_config(env("DATABASE_URL"))}
ROOT_URLCONF = "tests.bench.server_urls"

if env("BENCH_REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("BENCH_REDIS_URL"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
