"""Settings shared by every environment; each value that differs between machines comes from the
environment (django-environ). See ``local.py``, ``test.py`` and ``production.py``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import environ
from celery.schedules import crontab

from config.observability import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "merchants",
    "campaigns",
    "installments",
    "backoffice",
]

MIDDLEWARE = [
    # First: every response (redirects and errors too) carries the request id, and every log line
    # written while the request runs (config.observability).
    "config.observability.RequestIdMiddleware",
    # /healthz and /readyz, answered before the host check and the HTTPS redirect (config.health).
    "config.health.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "backoffice.security.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "backoffice.context_processors.backoffice",
            ],
        },
    },
]


def database_config(url: str) -> dict:
    """Parse a ``DATABASE_URL``; a Unix-socket folder may be given percent-encoded as the host."""
    config = environ.Env.db_url_config(url)
    config["HOST"] = unquote(str(config.get("HOST") or ""))
    config["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    config["ATOMIC_REQUESTS"] = False
    # Django leaves psycopg's prepare_threshold unset, which disables prepared statements even where
    # asked for; the quote's hot reads (config/prepared.py) need it. Django's own queries bind on
    # the client and are never prepared, so this changes nothing else.
    config.setdefault("OPTIONS", {})["prepare_threshold"] = 5
    # A database host that does not answer fails the request (503) in seconds, not minutes.
    config["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
    return config


# DATABASES is set by each environment's module (the embedded server is started only where wanted).

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Time: stored in UTC; the platform's business dates are Shanghai dates (DESIGN.md §7), and each
# merchant has its own time zone for campaign windows and daily caps.
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"
BUSINESS_TIME_ZONE = "Asia/Shanghai"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# The back office's overrides of Django's number and date formats (¥5,999.00 in Chinese too).
FORMAT_MODULE_PATH = ["backoffice.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# A back-office session lasts a working day, then the person signs in again.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 60 * 60)

# Sign-in throttling (backoffice.throttle): this many failures for one username from one address
# lock that pair out for the rest of the window; password-reset requests are limited alike.
BACKOFFICE_LOGIN_MAX_FAILURES = env.int("BACKOFFICE_LOGIN_MAX_FAILURES", default=5)
BACKOFFICE_LOGIN_LOCKOUT_SECONDS = env.int("BACKOFFICE_LOGIN_LOCKOUT_SECONDS", default=15 * 60)
BACKOFFICE_PASSWORD_RESET_MAX_REQUESTS = 5
BACKOFFICE_PASSWORD_RESET_WINDOW_SECONDS = 60 * 60

# Security headers. Django sends nosniff, the referrer policy, COOP and (middleware) frame denial;
# backoffice.security adds the Content Security Policy and the Permissions-Policy. The back office
# has no inline script or style: scripts and styles come from 'self' only.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Other packages' pages with an inline <style> block (the admin's change list, Swagger UI): inline
# styles are allowed there, never inline scripts.
CONTENT_SECURITY_POLICY_INLINE_STYLE_PATHS = ["/admin/", "/api/docs/"]
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="no-reply@installments.local")

# A quote (and nothing else) may rely on this web process's lookup of the API key made at most this
# many seconds ago: see merchants/recent_keys.py.
API_KEY_RECENT_SECONDS = env.float("API_KEY_RECENT_SECONDS", default=1.0)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": ["merchants.api_base.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["merchants.api_auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["merchants.api_base.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_RATE_PER_KEY", default="6000/min")},
    "DEFAULT_PAGINATION_CLASS": "merchants.api_base.CreatedCursorPagination",
    "EXCEPTION_HANDLER": "merchants.api_base.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # No OPTIONS metadata: the contract is the OpenAPI schema, and OPTIONS answers 405.
    "DEFAULT_METADATA_CLASS": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Interest-free installments: checkout API",
    "DESCRIPTION": "Quote installment options, commit plans, void and refund them (DESIGN.md §6).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the drf-spectacular-sidecar wheel: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ChannelEnum": ["online", "in_store"]},
}

# Celery: with no broker configured, tasks run in-process (the embedded default, DESIGN.md §9).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = BUSINESS_TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Longer than any task, so Redis does not redeliver a message whose task is still running. A task
# of a worker that died (SIGKILL, a lost host) goes back to its queue once this much time has passed
# since it was taken and a worker starts or polls; settlement's sweep re-enqueues lost batches sooner.
_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 60 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    # How often each worker looks for such tasks: a tenth of the timeout, at most every minute
    # (kombu's default is every 100 s, whatever the timeout).
    "unacked_restore_interval": max(1, min(60, _VISIBILITY_TIMEOUT // 10)),
    "unacked_restore_throttle": 1,
    # A broker that hangs (rather than refusing) must not hang a request that enqueues a task:
    # each command gives up after 3 s (more than the workers' 1 s BRPOP).
    "socket_connect_timeout": 2,
    "socket_timeout": 3,
    "socket_keepalive": True,
}
# A request that enqueues a task while the broker is down gives up quickly (and says so) instead of
# hanging; what it enqueues has a sweep that catches it up (alerts, settlement batches).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through Django's LOGGING (config.celery_app), JSON lines in production.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Settlement has its own queue so a long night never holds up alert e-mails or campaign ends.
CELERY_TASK_ROUTES = {
    "installments.settle_batch": {"queue": "settlement"},
    "installments.settle_yesterday": {"queue": "settlement"},
}

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

# Merchants settled per task and transaction (DESIGN.md §7).
SETTLEMENT_BATCH_SIZE = env.int("SETTLEMENT_BATCH_SIZE", default=500)

# Stored API outcomes are kept this long (at least 24 hours, DESIGN.md §6), then purged.
IDEMPOTENCY_RETENTION_HOURS = env.int("IDEMPOTENCY_RETENTION_HOURS", default=48)

# Logs go to stderr, one line per record, with the request id (config.observability): "json"
# (JSON lines, production's default) or "plain" (development's).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env("LOG_LEVEL", default="INFO"))

# Periodic jobs. django-celery-beat copies these into its tables, where operators can see and edit
# them in the admin; exactly one beat runs (README.md).
CELERY_BEAT_SCHEDULE = {
    "campaigns-end-due": {"task": "campaigns.end_due", "schedule": 60.0},
    "campaigns-alerts-sweep": {"task": "campaigns.alerts_sweep", "schedule": 300.0},
    "idempotency-purge": {"task": "installments.idempotency_purge", "schedule": 3600.0},
    # Nightly settlement of yesterday, at 02:00 in CELERY_TIMEZONE (Asia/Shanghai).
    "settlement-nightly": {
        "task": "installments.settle_yesterday",
        "schedule": crontab(hour=2, minute=0),
    },
    "settlement-sweep": {"task": "installments.settlement_sweep", "schedule": 300.0},
}
