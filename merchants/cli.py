"""The operators' command line (DESIGN.md §9): each command prints JSON on stdout and exits non-zero
with a one-line message on bad input."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from merchants.errors import DomainError


class JsonCommand(BaseCommand):
    """A command whose ``run`` returns a JSON-serialisable result; domain errors become one line."""

    def run(self, **options: Any) -> Any:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self.run(**options)
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc}") from exc
        self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))
