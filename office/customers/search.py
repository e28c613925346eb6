"""Search keys: names, phones, e-mails and plates folded so that however a person's
name is typed, it is found.

"Şükrü Yılmaz" and "sukru yilmaz", "Nguyễn Văn" and "nguyen van", "Иванов" and "иванов"
fold to the same key: compatibility decomposition, combining marks dropped, case
folded, and the letters that do not decompose (ı, ø, đ, ł, ß, ...) mapped to their base
letters. Cyrillic stays Cyrillic, and the key also holds the name in Latin letters
(:func:`latin`, as passports and bank cards spell it), so "ivanov" finds "Иванов" too.
The key is stored with the record and indexed (office.customers.find), so a search
compares keys, never raw text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

#: Letters without a decomposition, mapped to what a person types on a Latin keyboard.
_BASE = str.maketrans({
    "ı": "i", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ŧ": "t", "æ": "ae",
    "œ": "oe", "þ": "th", "ŋ": "n", "ĸ": "k", "ə": "e", "ɨ": "i",
})
_SPACES = re.compile(r"[^\w]+|_+")

#: Cyrillic letters in Latin, as Russian passports spell names (ICAO 9303), with the
#: Ukrainian and Kazakh letters that differ.
_LATIN = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia", "і": "i", "ї": "i", "є": "ie", "ґ": "g", "ә": "a", "ғ": "g", "қ": "k",
    "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
})


def fold(text: str) -> str:
    """``text`` folded for comparison: no accents, no case, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare.translate(_BASE)).strip()


def latin(folded: str) -> str:
    """A folded text's Cyrillic letters in Latin ("иванов" -> "ivanov"); others kept."""
    return folded.translate(_LATIN)


def digits(text: str) -> str:
    """Only the digits of ``text`` (a phone number however it is written)."""
    return "".join(c for c in text if c.isdigit())


def plate_key(plate: str) -> str:
    """A number plate without spaces, dashes or case: "34 abc-123" -> "34ABC123"."""
    return "".join(c for c in fold(plate) if c.isalnum()).upper()


def search_key(name: str, *, customer_id: str = "", phones: Iterable[str] = (),
               emails: Iterable[str] = (), extra: Iterable[str] = ()) -> str:
    """The one stored key a customer is found by: name, id, phones, e-mails, extras."""
    folded = fold(name)
    parts = [folded, latin(folded) if latin(folded) != folded else "", fold(customer_id)]
    parts += [digits(p) for p in phones]
    parts += [e.strip().casefold() for e in emails]
    parts += [fold(x) for x in extra]
    return " ".join(p for p in parts if p)
