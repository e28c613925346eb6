"""The console's translations (office/locale): every message of ru, tr and vi translated
and none fuzzy, the committed .mo files compiled from the .po files as they are, and
the reports' titles, descriptions and column headings (office.console.report_words)
translated on the report pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from office.console.report_words import COLUMN_WORDS, REPORT_COLUMN, SPEC_WORDS
from office.reports.registry import specs
from tests.office.console_support import logged_in, make_user, sample_network
from tests.office_fixtures import OfficeDb

LOCALE = Path(__file__).parents[2] / "office" / "locale"
LANGUAGES = ("ru", "tr", "vi")


def _text(lines: list[str]) -> str:
    """A PO string: its quoted pieces joined, escapes read as Python reads them."""
    return "".join(ast.literal_eval(line) for line in lines)


@dataclass(frozen=True)
class Message:
    """One message of a .po file."""

    ctx: str | None
    msgid: str
    plural: str | None
    translated: list[str]
    flags: set[str]


def entries(lang: str) -> list[Message]:
    """The messages of ``lang``'s django.po: context, id, plural id, translations and
    flags (the header and obsolete ``#~`` entries left out)."""
    out: list[Message] = []
    text = (LOCALE / lang / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith("#~")]
        flags = {f.strip() for line in lines if line.startswith("#,")
                 for f in line[2:].split(",")}
        fields: dict[str, list[str]] = {}
        key = None
        for line in lines:
            if line.startswith("#"):
                continue
            found = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$', line)
            if found:
                key = found.group(1)
                fields[key] = [found.group(2)]
            elif key is not None:
                fields[key].append(line)
        if "msgid" not in fields or _text(fields["msgid"]) == "":
            continue
        out.append(Message(
            ctx=_text(fields["msgctxt"]) if "msgctxt" in fields else None,
            msgid=_text(fields["msgid"]),
            plural=_text(fields["msgid_plural"]) if "msgid_plural" in fields else None,
            translated=[_text(v) for k, v in sorted(fields.items()) if k.startswith("msgstr")],
            flags=flags))
    return out


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(lang: str) -> None:
    found = entries(lang)
    assert len(found) > 600  # the whole console, not a stray fragment
    assert [e.msgid for e in found if not all(e.translated)] == []
    assert [e.msgid for e in found if "fuzzy" in e.flags] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_mo_file_is_the_po_file_compiled(lang: str) -> None:
    with open(LOCALE / lang / "LC_MESSAGES" / "django.mo", "rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for e in entries(lang):
        if e.plural is not None:  # the singular form, n = 1, in every language
            got = compiled.ngettext(e.msgid, e.plural, 1)
        elif e.ctx is None:
            got = compiled.gettext(e.msgid)
        else:
            got = compiled.pgettext(e.ctx, e.msgid)
        assert got == e.translated[0], (lang, e.msgid)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_report_words_are_in_every_catalogue(lang: str) -> None:
    plain = {e.msgid for e in entries(lang) if e.ctx is None}
    in_reports = {e.msgid for e in entries(lang) if e.ctx == REPORT_COLUMN}
    assert set(SPEC_WORDS) | set(COLUMN_WORDS) <= plain
    assert in_reports == {"New", "Closed", "Issued"}


def test_every_report_is_listed_for_translation() -> None:
    for spec in specs().values():
        assert spec.title in SPEC_WORDS and spec.about in SPEC_WORDS, spec.name


def _headings(page: str) -> list[str]:
    table = page.split('<table class="report">', 1)[1].split("</thead>", 1)[0]
    return re.findall(r"<th(?: [^>]*)?>(.*?)</th>", table)


@pytest.mark.usefixtures("fast_hashing")
def test_every_report_heading_is_translated_on_its_page(console_db: OfficeDb) -> None:
    """Each report, and each of its dimensions, shows Russian headings: none is left as
    the English one (but "#", which is no word)."""
    from office.customers.models import Customer

    sample_network()
    Customer.objects.create(customer_id="C-5", name="Sever Agro", payment_terms="credit",
                            created_at="2026-11-01T00:00:00.000000Z", created_by="t",
                            modified_at="2026-11-01T00:00:00.000000Z", modified_by="t")
    english = logged_in(make_user("vera", ["viewers"]))
    english.post("/i18n/setlang/", {"language": "en", "next": "/"})
    russian = logged_in(make_user("rita", ["viewers"]))
    russian.post("/i18n/setlang/", {"language": "ru", "next": "/"})
    checked = 0
    for spec in specs().values():
        for per in spec.per or ("",):
            query = "?customer=C-5" if "customer" in spec.options else "?"
            query += f"&per={per}" if per else ""
            en = english.get(f"/reports/{spec.name}/{query}")
            ru = russian.get(f"/reports/{spec.name}/{query}")
            assert en.status_code == ru.status_code == 200, (spec.name, per)
            en_heads = _headings(en.content.decode())
            ru_heads = _headings(ru.content.decode())
            assert len(en_heads) == len(ru_heads) > 0
            same = [h for h, r in zip(en_heads, ru_heads, strict=True) if h == r and h != "#"]
            assert same == [], (spec.name, per, same)
            checked += len(en_heads)
    assert checked > 100
