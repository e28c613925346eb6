"""Keyboard-wedge key events → text (US layout), without the ``evdev`` package.

A USB HID magnetic-stripe reader is a keyboard: it "types" the track text as key
presses (``Shift`` + ``5`` for ``%``, ``Shift`` + ``6`` for ``^``, ``Shift`` + ``/``
for ``?``) and ends a swipe with ``Enter``. The station grabs the reader's
``/dev/input/eventN`` so the text never reaches a console, and turns the raw key
events back into characters here. Keeping this pure (``(code, value)`` tuples with
the Linux ``KEY_*`` codes copied from ``linux/input-event-codes.h``) lets it be tested
from recorded event sequences on machines without ``/dev/uinput`` or ``evdev``.

Event values: 1 = key down, 0 = key up, 2 = kernel auto-repeat. A reader sends each
character as its own press, so an auto-repeat is the kernel's doing (a key reported
held for longer than the repeat delay) and by default types nothing; it is counted.
Keys this map does not know are ignored and counted, so a reader programmed for
another layout shows up as ``unknown > 0`` rather than as silently wrong text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EV_SYN = 0x00
EV_KEY = 0x01

KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

# Key codes (linux/input-event-codes.h).
KEY_ESC = 1
KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0 = range(2, 12)
KEY_MINUS = 12
KEY_EQUAL = 13
KEY_BACKSPACE = 14
KEY_TAB = 15
KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O, KEY_P = range(16, 26)
KEY_LEFTBRACE = 26
KEY_RIGHTBRACE = 27
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_A, KEY_S, KEY_D, KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L = range(30, 39)
KEY_SEMICOLON = 39
KEY_APOSTROPHE = 40
KEY_GRAVE = 41
KEY_LEFTSHIFT = 42
KEY_BACKSLASH = 43
KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M = range(44, 51)
KEY_COMMA = 51
KEY_DOT = 52
KEY_SLASH = 53
KEY_RIGHTSHIFT = 54
KEY_KPASTERISK = 55
KEY_LEFTALT = 56
KEY_SPACE = 57
KEY_CAPSLOCK = 58
KEY_NUMLOCK = 69
KEY_KP7, KEY_KP8, KEY_KP9 = 71, 72, 73
KEY_KPMINUS = 74
KEY_KP4, KEY_KP5, KEY_KP6 = 75, 76, 77
KEY_KPPLUS = 78
KEY_KP1, KEY_KP2, KEY_KP3 = 79, 80, 81
KEY_KP0 = 82
KEY_KPDOT = 83
KEY_KPENTER = 96
KEY_RIGHTCTRL = 97
KEY_KPSLASH = 98
KEY_RIGHTALT = 100
KEY_LEFTMETA = 125
KEY_RIGHTMETA = 126

SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
#: Modifiers that change nothing a reader types; tracked as known keys, not unknown.
IGNORED_KEYS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT,
                          KEY_LEFTMETA, KEY_RIGHTMETA, KEY_NUMLOCK})

KEYPAD_KEYS = frozenset({KEY_KP0, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP4, KEY_KP5, KEY_KP6,
                         KEY_KP7, KEY_KP8, KEY_KP9, KEY_KPDOT, KEY_KPMINUS, KEY_KPPLUS,
                         KEY_KPASTERISK, KEY_KPSLASH, KEY_KPENTER})

_LETTERS = {
    KEY_A: "a", KEY_B: "b", KEY_C: "c", KEY_D: "d", KEY_E: "e", KEY_F: "f", KEY_G: "g",
    KEY_H: "h", KEY_I: "i", KEY_J: "j", KEY_K: "k", KEY_L: "l", KEY_M: "m", KEY_N: "n",
    KEY_O: "o", KEY_P: "p", KEY_Q: "q", KEY_R: "r", KEY_S: "s", KEY_T: "t", KEY_U: "u",
    KEY_V: "v", KEY_W: "w", KEY_X: "x", KEY_Y: "y", KEY_Z: "z",
}

#: US layout: key code → (unshifted, shifted) character.
US_KEYS: dict[int, tuple[str, str]] = {
    KEY_1: ("1", "!"), KEY_2: ("2", "@"), KEY_3: ("3", "#"), KEY_4: ("4", "$"),
    KEY_5: ("5", "%"), KEY_6: ("6", "^"), KEY_7: ("7", "&"), KEY_8: ("8", "*"),
    KEY_9: ("9", "("), KEY_0: ("0", ")"), KEY_MINUS: ("-", "_"), KEY_EQUAL: ("=", "+"),
    KEY_LEFTBRACE: ("[", "{"), KEY_RIGHTBRACE: ("]", "}"), KEY_SEMICOLON: (";", ":"),
    KEY_APOSTROPHE: ("'", '"'), KEY_GRAVE: ("`", "~"), KEY_BACKSLASH: ("\\", "|"),
    KEY_COMMA: (",", "<"), KEY_DOT: (".", ">"), KEY_SLASH: ("/", "?"),
    KEY_SPACE: (" ", " "), KEY_TAB: ("\t", "\t"), KEY_ENTER: ("\n", "\n"),
    KEY_KPENTER: ("\n", "\n"),
    KEY_KP0: ("0", "0"), KEY_KP1: ("1", "1"), KEY_KP2: ("2", "2"), KEY_KP3: ("3", "3"),
    KEY_KP4: ("4", "4"), KEY_KP5: ("5", "5"), KEY_KP6: ("6", "6"), KEY_KP7: ("7", "7"),
    KEY_KP8: ("8", "8"), KEY_KP9: ("9", "9"), KEY_KPDOT: (".", "."),
    KEY_KPMINUS: ("-", "-"), KEY_KPPLUS: ("+", "+"), KEY_KPASTERISK: ("*", "*"),
    KEY_KPSLASH: ("/", "/"),
    **{code: (ch, ch.upper()) for code, ch in _LETTERS.items()},
}

#: Character → (key code, shift) for typing text, main keyboard keys only.
_TYPING: dict[str, tuple[int, bool]] = {}
for _code, (_plain, _shifted) in US_KEYS.items():
    if _code not in KEYPAD_KEYS:
        _TYPING.setdefault(_plain, (_code, False))
        _TYPING.setdefault(_shifted, (_code, True))


@dataclass(frozen=True)
class KeyText:
    """Text decoded from key events, with what was skipped on the way."""

    text: str
    unknown: int  # presses of keys with no character in the US map
    repeats: int  # auto-repeat events (typed only with ``type_repeats``)


class KeyDecoder:
    """Stateful decoder: feed ``(code, value)`` key events, get characters back.

    Tracks both Shift keys and Caps Lock (letters only, as a US keyboard does).
    """

    def __init__(self, *, type_repeats: bool = False) -> None:
        self.type_repeats = type_repeats
        self.unknown = 0
        self.repeats = 0
        self._shift: set[int] = set()
        self._caps = False

    def feed(self, code: int, value: int) -> str:
        """The characters one key event types ("" for most events)."""
        if code in SHIFT_KEYS:
            if value == KEY_DOWN:
                self._shift.add(code)
            elif value == KEY_UP:
                self._shift.discard(code)
            return ""
        if value == KEY_REPEAT:
            self.repeats += 1
            if not self.type_repeats:
                return ""
        elif value != KEY_DOWN:
            return ""
        if code == KEY_CAPSLOCK:
            if value == KEY_DOWN:
                self._caps = not self._caps
            return ""
        if code in IGNORED_KEYS:
            return ""
        pair = US_KEYS.get(code)
        if pair is None:
            if value == KEY_DOWN:
                self.unknown += 1
            return ""
        shifted = bool(self._shift)
        if code in _LETTERS and self._caps:
            shifted = not shifted
        return pair[1] if shifted else pair[0]

    def reset(self) -> None:
        """Forget held modifiers (after the device was reopened)."""
        self._shift.clear()
        self._caps = False


def decode_keys(events: Iterable[tuple[int, int]], *, type_repeats: bool = False) -> KeyText:
    """Decode a whole recorded sequence of ``(code, value)`` key events."""
    decoder = KeyDecoder(type_repeats=type_repeats)
    text = "".join(decoder.feed(code, value) for code, value in events)
    return KeyText(text=text, unknown=decoder.unknown, repeats=decoder.repeats)


def text_to_keys(text: str, *, shift_key: int = KEY_LEFTSHIFT) -> list[tuple[int, int]]:
    """The key events a US-layout keyboard wedge sends to type ``text``.

    Each character is press + release, wrapped in Shift press/release when needed —
    what readers do. For recording test sequences and documenting reader output;
    raises ValueError for a character no key types.
    """
    events: list[tuple[int, int]] = []
    for ch in text:
        if ch not in _TYPING:
            raise ValueError(f"no US-layout key types {ch!r}")
        code, shift = _TYPING[ch]
        if shift:
            events.append((shift_key, KEY_DOWN))
        events += [(code, KEY_DOWN), (code, KEY_UP)]
        if shift:
            events.append((shift_key, KEY_UP))
    return events
