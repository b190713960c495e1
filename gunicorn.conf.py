"""gunicorn's configuration for the web processes: ``gunicorn -c gunicorn.conf.py config.wsgi``.

Every value can be changed through the environment, so one file serves a laptop, a VM and a
container. Workers are gthread workers: a sync worker closes every connection after its response
and waits for the client's FIN before taking the next, which cost the API three quarters of its
throughput in the benchmark (README.md, Performance).

Sizing: the API is CPU-bound in Python (README.md, Performance), so ``WEB_CONCURRENCY`` (processes)
is about the number of cores; the threads of each cover the waits on PostgreSQL. Each thread can
hold one database connection: workers × threads × hosts must stay below PostgreSQL's
``max_connections`` (100 by default) less what Celery and the operators need."""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# Where to listen: every interface on PORT (8000; Heroku-style platforms set it), or GUNICORN_BIND
# (an address:port or unix:/path).
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = _int("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count()))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)

# A request that runs this long is stuck (a checkout takes tens of milliseconds): the worker is
# killed and replaced. Its database transaction dies with its connection, so nothing half-done
# stays, and the client's idempotent retry completes the work (README.md, Production).
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM (a deploy, a scale-down) workers finish the requests they have for this long.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Keep idle client connections this long; a load balancer in front should close its idle
# connections sooner than this (or be given a longer value here), or it may reuse one just closed.
keepalive = _int("GUNICORN_KEEPALIVE", 5)
backlog = _int("GUNICORN_BACKLOG", 2048)

# Recycle each worker after about this many requests (jittered so they do not all restart at once):
# bounds the damage of a slow leak in any library. Not lower: a worker serves about 500 quotes a
# second, and a restart costs a second or two of CPU (imports, cold caches, new connections), so
# 2,000 recycled every worker every few seconds and cut the benchmark's throughput by a third.
max_requests = _int("GUNICORN_MAX_REQUESTS", 200_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 20_000)

# Not preloaded: each worker imports the application itself, so no database or Redis connection
# can ever be shared across a fork, and a changed file is picked up on a graceful reload (HUP).
preload_app = False
# The heartbeat file in memory, not on the container's overlay filesystem (gunicorn creates it
# with a random name, mode 0600).
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# Operators talk to the master with signals (HUP reload, TTIN/TTOU, TERM); gunicorn 24+'s control
# socket would sit at one path per user, shared by every master on the host.
control_socket_disable = True

# Trust X-Forwarded-* (the scheme, for SECURE_PROXY_SSL_HEADER) only from these proxies: the load
# balancer's address, or "*" when the web port is reachable from the proxy alone (a container
# network).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips

# Requests are logged by the application, one JSON line each with its request id
# (config.observability); gunicorn's own messages (boot, worker timeouts) go to stderr as JSON too.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
if os.environ.get("LOG_FORMAT", "json") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "config.observability.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gunicorn.error": {
                "handlers": ["console"],
                "level": loglevel.upper(),
                "propagate": False,
            },
            # The application logs each request (with its id); gunicorn's line would repeat it.
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
