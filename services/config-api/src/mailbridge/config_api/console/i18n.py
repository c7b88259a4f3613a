"""The console's languages: one data file per language (translations/<code>.json), a flat map from
key to text; the browser's Accept-Language picks, the language cookie overrides.

Keys: `ui.*` page texts, `screen.<screen>.*` titles, `field.<name>` labels and `help.<name>` the
manual's help text for a field (a screen-specific `field.<screen>.<name>` / `help.<screen>.<name>`
wins), `enum.<Enum>.<value>` choices. A key missing in a language falls back to English, then to
the key itself, so a new field shows up (unlabelled by prose, but usable) before it is translated.
"""

import json
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(language: str) -> dict[str, str]:
    """translations/<language>.json, then each screen family's own translations/<name>.<language>.json."""
    folder = files(__package__).joinpath("translations")
    data: dict[str, str] = json.loads(folder.joinpath(f"{language}.json").read_text("utf-8"))
    for extra in sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(f".{language}.json")):
        data |= json.loads(folder.joinpath(extra).read_text("utf-8"))
    return data


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if it is one we have, else the best of Accept-Language, else English."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= position * 1e-6  # equal weights: the earlier one
        if q > best_q and q > 0:
            best, best_q = primary, q
    return best


class Translator:
    """Texts of one language; `t(key, **values)` formats `{name}` placeholders."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._texts = catalogue(language)
        self._fallback = catalogue(DEFAULT_LANGUAGE)

    def has(self, key: str) -> bool:
        return key in self._texts or key in self._fallback

    def __call__(self, key: str, **values: Any) -> str:
        text = self._texts.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def first(self, *keys: str, default: str = "") -> str:
        """The text of the first key that has one (e.g. a screen's own label, then the shared one)."""
        for key in keys:
            if self.has(key):
                return self(key)
        return default
