"""``manage.py plan_calc``: the plan calculator of DESIGN.md §3 from the shell (§9).

One case by flags prints one JSON line; ``--input FILE`` (``-`` for stdin) answers JSON lines of cases
line by line, a line that is not a valid case answering ``{"error": ...}`` while the rest go on.
It never touches the database.
"""

from __future__ import annotations

import json
import re
import sys
from argparse import ArgumentParser
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError

from installments.calculator import CalculationError, run_case, run_lines

# (flag, case key, kind): the flags are the case's keys with dashes; "int" flags are parsed strictly
# here because the case contract wants JSON integers, the rest are passed on as strings.
_CASE_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--principal", "principal", "int"),
    ("--term", "term", "int"),
    ("--consumer-rate", "consumer_rate", "str"),
    ("--merchant-rate", "merchant_rate", "str"),
    ("--share-bp", "share_bp", "int"),
    ("--eligible", "eligible", "int"),
    ("--purchase-date", "purchase_date", "str"),
    ("--statement-day", "statement_day", "int"),
    ("--due-day", "due_day", "int"),
    ("--rounding", "rounding", "str"),
    ("--refunded", "refunded", "int"),
)
_REQUIRED = ("principal", "term", "consumer_rate", "merchant_rate", "share_bp", "purchase_date")
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)


class Command(BaseCommand):
    help = (
        "Price an installment plan (DESIGN.md §3) and print it as JSON: one case by flags, or "
        "--input FILE of JSON lines (- for stdin), one answer line per case."
    )
    # Pure calculation: no system checks, no database, works before migrations.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False
    # Lets tests feed --input - through call_command(..., stdin=io.StringIO(...)).
    stealth_options = ("stdin",)

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--input",
            metavar="FILE",
            help="JSON lines of cases to answer line by line; - reads stdin.",
        )
        for flag, key, kind in _CASE_FLAGS:
            parser.add_argument(
                flag,
                dest=key,
                metavar="N" if kind == "int" else "VALUE",
                help=f"the case's {key!r}" + (" (required)" if key in _REQUIRED else ""),
            )

    def handle(self, *args: Any, **options: Any) -> None:
        given = {key: options[key] for _, key, _ in _CASE_FLAGS if options.get(key) is not None}
        if options.get("input") is not None:
            if given:
                raise CommandError("give either --input or the case flags, not both")
            self._answer_file(options["input"], options.get("stdin"))
            return
        missing = [_flag(key) for key in _REQUIRED if key not in given]
        if missing:
            raise CommandError(f"missing {', '.join(missing)} (or use --input FILE)")
        case: dict[str, object] = {}
        for flag, key, kind in _CASE_FLAGS:
            if key not in given:
                continue
            value = given[key]
            if kind == "int":
                if not _INTEGER.fullmatch(value):
                    raise CommandError(f"{flag}: must be an integer, got {value!r}")
                case[key] = int(value)
            else:
                case[key] = value
        try:
            answer = run_case(case)
        except CalculationError as exc:
            where = _flag(exc.field) if exc.field else "plan_calc"
            raise CommandError(f"{where}: {exc.message}") from None
        self.stdout.write(_dumps(answer))

    def _answer_file(self, path: str, stdin: TextIO | None) -> None:
        if path == "-":
            self._write_answers(stdin if stdin is not None else sys.stdin)
            return
        try:
            with open(path, encoding="utf-8") as lines:
                self._write_answers(lines)
        except OSError as exc:
            raise CommandError(f"--input: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"--input: {path} is not UTF-8 text") from None

    def _write_answers(self, lines: TextIO) -> None:
        for answer in run_lines(lines):
            self.stdout.write(answer)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
