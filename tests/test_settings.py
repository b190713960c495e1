"""Deployment settings: production refuses to start without its secrets and passes check --deploy."""

import os
import subprocess
import sys

PROD = {"DJANGO_SETTINGS_MODULE": "config.settings.production"}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        env=base | env,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean():
    proc = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=PROD
        | {
            "SECRET_KEY": "x7#k2!p9Lq$w4Zr8Vt1Ny6Bm3Hc0Jf5Gd-Xs2Ke7Pa9Wu4Qi1Ro8Tl3Ey6Mn0Cb5",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "DJANGO_ALLOWED_HOSTS": "pay.example.com",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "System check identified no issues" in proc.stdout


def test_production_refuses_to_start_without_secret_key():
    proc = _manage(
        "check", env=PROD | {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres"}
    )
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stderr


def _procfile() -> dict[str, str]:
    with open("Procfile") as procfile:
        lines = [line.strip() for line in procfile if line.strip() and not line.startswith("#")]
    return dict(line.split(": ", 1) for line in lines)


def test_every_procfile_process_runs_with_the_production_settings():
    """manage.py and Celery default to the local settings (DEBUG on): each Procfile line names
    production's, whether or not the platform exports DJANGO_SETTINGS_MODULE."""
    processes = _procfile()
    assert set(processes) == {"release", "web", "worker", "beat"}
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    for name, command in processes.items():
        assignment, program = command.split(" ", 1)
        assert assignment.startswith("DJANGO_SETTINGS_MODULE="), name
        assert program.split()[0] in {"python", "gunicorn", "celery"}, name
        shell = subprocess.run(
            ["sh", "-c", f"{assignment} printenv DJANGO_SETTINGS_MODULE"],
            capture_output=True,
            text=True,
            env=base,
            check=True,
        )
        assert shell.stdout.strip() == "config.settings.production", name


def test_every_service_of_the_image_runs_with_the_production_settings():
    import yaml

    with open("docker-compose.yml") as compose:
        services = yaml.safe_load(compose)["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == "installments:latest"}
    assert set(ours) == {"migrate", "web", "worker", "beat"}
    for name, service in ours.items():
        assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "config.settings.production", (
            name
        )


def test_the_readmes_production_commands_name_the_production_settings():
    with open("README.md") as readme:
        text = readme.read()
    block = text.split("### The processes", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    export = block.index("export DJANGO_SETTINGS_MODULE=config.settings.production")
    assert export < block.index("python manage.py") and export < block.index("celery -A config")
    assert "`gunicorn.conf.py` and the image" not in text  # gunicorn.conf.py never set it
