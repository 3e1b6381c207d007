"""Numbers, p-values, verdicts and hypothesis lines as the report prints them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite number (None, NaN, text: no)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def format_p(p: Any) -> str:
    """A p-value for reading: ``< 0.001``, else two significant digits; ``–`` if undefined.

    Parameters
    ----------
    p : float
        The p-value (anything else prints as ``–``).
    """
    if not finite(p):
        return "–"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def format_number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, integers as integers; ``–`` if undefined.

    Parameters
    ----------
    value : float
        The number.
    digits : int
        Significant digits.
    """
    if not finite(value):
        return "–"
    value = float(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"


def format_effect(value: Any) -> str:
    """A signed effect size with two decimals (``+0.83``); ``–`` if undefined."""
    return f"{float(value):+.2f}" if finite(value) else "–"


def with_interval(mean: Any, low: Any, high: Any, digits: int = 3) -> str:
    """``mean [low, high]``, the interval left out when it is undefined."""
    text = format_number(mean, digits)
    if finite(low) and finite(high):
        text += f" [{format_number(low, digits)}, {format_number(high, digits)}]"
    return text


def verdict_of(row: Any) -> str:
    """A hypothesis's verdict: its ``verdict`` column, else from ``p_holm``/``supported``."""
    if "verdict" in row and isinstance(row["verdict"], str) and row["verdict"]:
        return row["verdict"]
    if not finite(row.get("p_holm")):
        return "not tested"
    return "supported" if bool(row.get("supported")) else "not supported"


def verdict_class(verdict: str) -> str:
    """The CSS class of a verdict: supported, not-supported or not-tested."""
    if verdict == "supported":
        return "supported"
    if verdict == "not tested":
        return "not-tested"
    return "not-supported"


def alpha_of(hypotheses: pd.DataFrame, default: float = 0.05) -> float:
    """The family's α as the analysis recorded it, else ``default``."""
    if "alpha" in hypotheses and len(hypotheses) and finite(hypotheses["alpha"].iloc[0]):
        return float(hypotheses["alpha"].iloc[0])
    return default


def direction_of(row: Any) -> str:
    """A hypothesis's direction in words: its ``direction`` column, else ``measure: a > b``."""
    if isinstance(row.get("direction"), str) and row["direction"]:
        return row["direction"]
    symbol = {"greater": ">", "less": "<"}.get(row.get("alternative"), "≠")
    return f"{row.get('measure')}: {row.get('model_a')} {symbol} {row.get('model_b')}"


def summary_rows(hypotheses: pd.DataFrame) -> list[dict[str, str]]:
    """One dict of display strings per hypothesis (the summary's lines).

    Parameters
    ----------
    hypotheses : pandas.DataFrame
        ``hypotheses.parquet``.

    Returns
    -------
    list of dict
        ``hypothesis, description, direction, n, mean_diff, effect_size, p_holm,
        verdict, verdict_class, note``, each a string.
    """
    rows = []
    for _, row in hypotheses.iterrows():
        verdict = verdict_of(row)
        rows.append({
            "hypothesis": str(row["hypothesis"]),
            "description": str(row.get("description", "") or ""),
            "direction": direction_of(row),
            "n": format_number(row.get("n")),
            "mean_diff": with_interval(row.get("mean_diff"), row.get("ci_low"),
                                       row.get("ci_high")),
            "effect_size": format_effect(row.get("effect_size")),
            "p_holm": format_p(row.get("p_holm")),
            "verdict": verdict,
            "verdict_class": verdict_class(verdict),
            "note": str(row.get("note", "") or ""),
        })
    return rows


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table's lines; a cell's ``|`` is escaped and its line breaks joined.

    Parameters
    ----------
    header : sequence of str
        The column names.
    rows : iterable of sequence
        The cells of each row, in column order (anything ``str`` shows).

    Returns
    -------
    list of str
        The header line, the rule, one line per row.
    """
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
