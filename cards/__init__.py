"""Presentation layer: card text templates (one Markdown file per card id) and phrases; text only, no structure."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any

_HERE = Path(__file__).resolve().parent
_SECTION = re.compile(r"^<!-- (summary|detail) -->\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CardTemplate:
    """The summary and detail templates of one card id (string.Template, `${name}` placeholders)."""

    card_id: str
    summary: Template
    detail: Template


def _parse(card_id: str, text: str) -> CardTemplate:
    parts = _SECTION.split(text)
    sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    if "summary" not in sections or "detail" not in sections:
        raise ValueError(f"card template {card_id}.md needs a <!-- summary --> and a <!-- detail --> section")
    return CardTemplate(card_id, Template(sections["summary"].strip()), Template(sections["detail"]))


@lru_cache(maxsize=1)
def templates() -> dict[str, CardTemplate]:
    """Every card template by card id (read once per process)."""
    return {p.stem: _parse(p.stem, p.read_text(encoding="utf-8")) for p in sorted(_HERE.glob("C-*.md"))}


@lru_cache(maxsize=1)
def phrases() -> dict[str, Any]:
    """Phrases by section: rule, reason, criterion, missing, technique, technique_reason, row, text."""
    with (_HERE / "phrases.toml").open("rb") as fh:
        return tomllib.load(fh)


def summary_template(card_id: str, override: str | None = None) -> Template:
    """The summary template, or a site override of it (configuration `cards.text_overrides`)."""
    return Template(override) if override else templates()[card_id].summary
