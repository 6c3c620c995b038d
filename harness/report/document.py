"""The report as a document: sections of cards, tables, figures and notes.

Built once from the runs, rendered twice (report_html, report_md), so the HTML and
the Markdown always say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Badge:
    text: str
    tone: str  # good | bad | warn | info


Inline = Union[str, Badge]
Cell = Union[Inline, tuple[Inline, ...]]


@dataclass(frozen=True)
class Paragraph:
    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Callout:
    tone: str  # bad | warn | info
    title: str
    text: str


@dataclass(frozen=True)
class Card:
    title: str
    key: str  # a precision, for its colour
    figures: tuple[tuple[str, str], ...]  # (value, what it is)
    badges: tuple[Badge, ...]


@dataclass(frozen=True)
class Cards:
    cards: tuple[Card, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    caption: str = ""
    fields: bool = False  # the first column names fields (a disclosure), not items


@dataclass(frozen=True)
class Image:
    name: str  # file stem for the Markdown's PNG
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    blocks: tuple[Paragraph | Callout | Cards | Table | Image | Section, ...]


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    badges: tuple[Badge, ...]
    sections: tuple[Section, ...]

    def images(self) -> list[Image]:
        found: list[Image] = []

        def walk(blocks) -> None:
            for block in blocks:
                if isinstance(block, Image):
                    found.append(block)
                elif isinstance(block, Section):
                    walk(block.blocks)

        walk(self.sections)
        return found

