"""The Simplified Chinese catalog (locale/zh_Hans): complete, never fuzzy, its placeholders kept,
compiled into the committed .mo, and what a browser asking for Chinese is actually shown.

The catalog is read with a small parser (no polib): enough of the PO format for what
``makemessages`` writes: comments and flags, msgctxt, msgid, msgid_plural, msgstr and msgstr[n],
and strings continued over several lines."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from backoffice.context_processors import MENU
from backoffice.labels import LABELS

LC_MESSAGES = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

# The navigation and a few words every page shows, as the glossary at the top of the catalog has them.
NAVIGATION = {
    "Dashboard": "首页",
    "Campaigns": "免息活动",
    "Plans": "分期订单",
    "Settlements": "结算",
    "Stores": "门店",
    "Members": "成员",
    "API keys": "API 密钥",
}


@dataclass
class Entry:
    line: int
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # a singular entry's msgstr is [0]

    @property
    def label(self) -> str:
        context = f"[{self.msgctxt}] " if self.msgctxt is not None else ""
        return f"{PO.name}:{self.line}: {context}{self.msgid!r}"


def parse_po(text: str) -> list[Entry]:
    """The entries of a PO file, the header (msgid "") included, in file order."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int] | None = None  # the keyword a continued string belongs to

    def start(number: int) -> Entry:
        nonlocal entry
        if entry is None or entry.msgstr:  # a keyword after the msgstr starts a new entry
            entry = Entry(line=number)
            entries.append(entry)
        return entry

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            entry, target = None, None
            continue
        if line.startswith("#~"):
            start(number).obsolete = True
            continue
        if line.startswith("#,"):
            start(number).flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            assert entry is not None and target is not None, f"line {number}: stray string"
            keyword, index = target
            value = ast.literal_eval(line)
            if keyword == "msgstr":
                entry.msgstr[index] += value
            else:
                setattr(entry, keyword, getattr(entry, keyword) + value)
            continue
        match = re.fullmatch(r'(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")', line)
        assert match, f"line {number}: not understood: {raw!r}"
        keyword, index, value = match.group(1), int(match.group(2) or 0), match.group(3)
        current = start(number)
        if keyword == "msgstr":
            current.msgstr[index] = ast.literal_eval(value)
        else:
            setattr(current, keyword, ast.literal_eval(value))
        target = (keyword, index)
    return entries


@pytest.fixture(scope="module")
def catalog() -> list[Entry]:
    assert PO.exists(), f"{PO} is missing: run `manage.py makemessages -l zh_Hans`"
    return parse_po(PO.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def messages(catalog: list[Entry]) -> list[Entry]:
    return [entry for entry in catalog if entry.msgid and not entry.obsolete]


def test_the_parser_reads_contexts_plurals_and_continued_lines():
    entries = parse_po(
        'msgid ""\nmsgstr ""\n"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
        '#, python-format\nmsgctxt "plan status"\nmsgid "Act"\n"ive"\nmsgstr "生效"\n"中"\n\n'
        'msgid "%(n)s plan"\nmsgid_plural "%(n)s plans"\nmsgstr[0] ""\n\n'
        '#~ msgid "Gone"\n#~ msgstr "旧"\n'
    )
    header, active, plural, gone = entries
    assert header.msgstr[0] == "Plural-Forms: nplurals=1; plural=0;\n"
    assert (active.msgctxt, active.msgid, active.msgstr, active.flags) == (
        "plan status",
        "Active",
        {0: "生效中"},
        {"python-format"},
    )
    assert plural.msgid_plural == "%(n)s plans" and plural.msgstr == {0: ""}
    assert gone.obsolete


def test_the_header_is_final_and_has_the_single_chinese_plural_form(catalog: list[Entry]):
    header = catalog[0]
    assert header.msgid == "" and "fuzzy" not in header.flags
    fields = dict(line.split(": ", 1) for line in header.msgstr[0].splitlines() if ": " in line)
    assert fields["Language"] == "zh_Hans"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_every_message_is_translated_and_none_is_fuzzy_or_obsolete(
    catalog: list[Entry], messages: list[Entry]
):
    assert len(messages) > 300  # the back office's pages, forms, filters and labels
    fuzzy = [entry.label for entry in messages if "fuzzy" in entry.flags]
    untranslated = [
        entry.label
        for entry in messages
        if not entry.msgstr or not all(text.strip() for text in entry.msgstr.values())
    ]
    plural_forms = [
        entry.label
        for entry in messages
        if entry.msgid_plural is not None and set(entry.msgstr) != {0}
    ]
    obsolete = [entry.label for entry in catalog if entry.obsolete]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not untranslated, f"untranslated entries: {untranslated}"
    assert not plural_forms, f"zh_Hans has one plural form (msgstr[0] only): {plural_forms}"
    assert not obsolete, f"obsolete entries (makemessages --no-obsolete): {obsolete}"


PLACEHOLDER = re.compile(r"%(?:\([a-z_]+\))?[sd]|%%|\{[a-z_]*\}")
TAG = re.compile(r"</?[a-z]+[^>]*>")


def test_placeholders_and_html_tags_are_kept(messages: list[Entry]):
    wrong = []
    for entry in messages:
        # zh_Hans's single form (msgstr[0]) is the plural's: compare it with msgid_plural.
        source = entry.msgid if entry.msgid_plural is None else entry.msgid_plural
        for pattern in (PLACEHOLDER, TAG):
            expected = sorted(pattern.findall(source))
            for text in entry.msgstr.values():
                if sorted(pattern.findall(text)) != expected:
                    wrong.append((entry.label, expected, text))
    assert not wrong, f"placeholders or tags changed: {wrong}"


def test_the_committed_mo_is_compiled_from_this_po(messages: list[Entry]):
    """Deployments use the .mo as it is in git (no gettext there): it must say what the .po says."""
    assert MO.exists(), f"{MO} is missing: run `manage.py compilemessages -l zh_Hans`"
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in messages:
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            found = compiled._catalog.get(key)  # type: ignore[attr-defined]
        else:
            found = compiled._catalog.get((key, 0))  # type: ignore[attr-defined]
        if found != entry.msgstr[0]:
            stale.append(entry.label)
    assert not stale, f"the .mo does not match the .po for: {stale}"


def test_the_menu_and_every_status_label_are_translated():
    untranslated = []
    labels = [item.label for item in MENU] + [
        text for kind in LABELS.values() for text in kind.values()
    ]
    for text in labels:
        with translation.override("en"):
            english = str(text)
        with translation.override("zh-hans"):
            chinese = str(text)
        if chinese == english:
            untranslated.append(english)
    assert not untranslated, f"shown in English in Chinese pages: {untranslated}"
    with translation.override("zh-hans"):
        assert {str(item.label) for item in MENU} == set(NAVIGATION.values())


@pytest.mark.django_db
def test_a_browser_asking_for_chinese_gets_the_back_office_in_chinese(world, client_as):
    client = client_as(world.users["owner"], HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
    page = client.get("/").content.decode()
    assert '<html lang="zh-hans">' in page
    nav = re.search(r'<nav class="sidebar".*?</nav>', page, re.S)
    assert nav is not None
    for english, chinese in NAVIGATION.items():
        assert f">{chinese}</a>" in nav.group(0), f"the menu does not show {english!r} as {chinese}"
        assert f">{english}</a>" not in nav.group(0)
    for chinese in ("分期交易额", "贴息支出", "退出登录", "分期免息商家后台"):
        assert chinese in page
    for english in ("Financed sales", "Subsidy spent", "Sign out", "Installments back office"):
        assert english not in page

    plans = client.get("/plans/").content.decode()
    for chinese in ("期数", "消费者手续费", "正式分期订单", "生效中", "导出 CSV"):
        assert chinese in plans
    statements = client.get("/settlements/").content.decode()
    for chinese in ("业务日期", "计费金额", "冲回金额", "净额"):
        assert chinese in statements

    login = Client(HTTP_ACCEPT_LANGUAGE="zh-CN").get("/accounts/login/").content.decode()
    assert "登录商家后台" in login and "忘记密码？" in login

    # English stays the default for a browser that does not ask for Chinese.
    english_page = client_as(world.users["owner"]).get("/").content.decode()
    assert ">Plans</a>" in english_page and "分期交易额" not in english_page
