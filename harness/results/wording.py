"""Statistics in sentences: what a comparison's numbers mean, said once for compare and report."""

from __future__ import annotations

from collections.abc import Callable


def comparison_verdict(statistic: str, values: tuple[float, float], ratio: float,
                       ratio_ci: tuple[float, float], test: tuple[bool, float, float],
                       lower_is_better: bool, show: Callable[[float], str]) -> str:
    """One sentence: is B faster, slower, or not really different from A?
    `values` are (A, B); `test` is (significant, p value, alpha)."""
    a, b = values
    significant, p_value, alpha = test
    shown = f"{statistic} {show(b)} vs {show(a)}"
    p_text = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.2g}"
    if significant:
        faster = (ratio < 1) == lower_is_better
        change = abs(ratio - 1) * 100
        return f"B is {change:.1f} % {'faster' if faster else 'slower'} ({shown}), {p_text}, the difference is real"
    if p_value < alpha:
        return (f"the distributions differ ({p_text}), but the {statistic} ratio B/A {ratio:.3f} has a "
                f"{(1 - alpha) * 100:g} % interval [{ratio_ci[0]:.3f}, {ratio_ci[1]:.3f}] that includes no "
                f"change ({shown})")
    return f"no significant difference ({p_text}; {shown})"
