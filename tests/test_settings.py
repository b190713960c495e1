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
