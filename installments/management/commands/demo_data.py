from typing import Any

from installments.demo import demo_load
from merchants.cli import JsonCommand


class Command(JsonCommand):
    help = "Load the demo (idempotent). The last line of output is the JSON of the logins it made."

    def run(self, **options: Any) -> dict[str, object]:
        return demo_load().as_json()
