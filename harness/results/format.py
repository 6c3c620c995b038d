"""Numbers in words for people: latencies, rates, sizes. Shared by compare and report."""

from __future__ import annotations


def latency(ns: float | None, digits: int = 3) -> str:
    if ns is None:
        return "n/a"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.{digits}g} {unit}"
    return f"{ns:.{digits}g} ns"


def milliseconds(ns: float | None) -> str:
    """A latency in ms with the precision a reader of a table wants (3 significant digits)."""
    return "n/a" if ns is None else f"{ns / 1e6:.3g}"


def rate(per_s: float | None) -> str:
    if per_s is None:
        return "n/a"
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"


def gib(size_bytes: int | None) -> str:
    return "unknown" if size_bytes is None else f"{size_bytes / 2**30:.1f} GiB"


def interval(low: float | None, high: float | None, show) -> str:
    return f"[{show(low) if low is not None else '−∞'}, {show(high) if high is not None else '+∞'}]"
