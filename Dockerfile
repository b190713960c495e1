# The one image of every process (web, worker, beat, migrate): see docker-compose.yml and README.md,
# Production. Build: `docker build -t installments .`
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PORT=8000

# A user of its own: nothing in the container runs as root.
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# The dependencies of pyproject.toml in a layer of their own, so that a change to the code does not
# reinstall them (all are wheels: no compiler needed). The code runs from /app, not installed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# Static files are collected at build time and served by WhiteNoise (hashed names, compressed).
# The production settings need these variables to load; they are placeholders, nothing connects.
RUN SECRET_KEY=collectstatic-only DATABASE_URL=postgres://build@localhost/build \
        REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --noinput \
    && python -m compileall -q config merchants campaigns installments backoffice

USER app
EXPOSE 8000

# The web process; docker-compose.yml runs the worker, beat and migrations from this image too,
# each with its own command (and the web's health check: GET /healthz).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"]
