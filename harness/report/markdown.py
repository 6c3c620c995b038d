"""The report as Markdown, its figures as PNG files beside it (Markdown viewers drop data URIs)."""

from __future__ import annotations

from harness.report.document import Badge, Callout, Cards, Document, Image, Paragraph, Section, Table


def _inline(part) -> str:
    return f"**{part.text}**" if isinstance(part, Badge) else part


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_escape(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    for row in table.rows:
        cells = [" ".join(_inline(p) for p in (c if isinstance(c, tuple) else (c,))) for c in row]
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    if table.caption:
        lines += ["", f"*{table.caption.strip()}*"]
    return lines + [""]


def _block(block, figures_dir: str, depth: int) -> list[str]:
    if isinstance(block, Paragraph):
        return [" ".join(_inline(p) for p in block.parts), ""]
    if isinstance(block, Callout):
        return [f"> **{block.title}.** {block.text}", ""]
    if isinstance(block, Cards):
        return []  # the cards are the headline table's figures, drawn large; Markdown has the table
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        return [f"![{block.title}]({figures_dir}/{block.name}.png)", "", f"*{block.title}.* {block.caption}", ""]
    return _section(block, figures_dir, depth + 1)


def _section(section: Section, figures_dir: str, depth: int) -> list[str]:
    lines = [f"{'#' * depth} {section.title}", ""]
    for block in section.blocks:
        lines += _block(block, figures_dir, depth)
    return lines


def render_markdown(doc: Document, figures_dir: str) -> str:
    lines = [f"# {doc.title}", "", doc.subtitle, "", " ".join(_inline(b) for b in doc.badges), ""]
    for section in doc.sections:
        lines += _section(section, figures_dir, 2)
    return "\n".join(lines).rstrip() + "\n"
