"""Claims: each section's numbers next to the paper's, written to figures/<section>/claims.json, from which
the README's results table is generated."""
import json
import math
import os
from pathlib import Path

from .files import atomic

SE_DIGITS = 4  # decimals of a claim's standard error: those of the finest-rounded values (the rates)


def claim(name: str, ours, paper, what: str, se: float | None = None) -> dict:
    """One claim: our measured value, the paper's (None where the paper gives none) and what it measures; with
    `se`, also its standard error (key "se", rounded to SE_DIGITS decimals). Without `se` the claim has exactly the
    four keys."""
    c = {"name": name, "ours": ours, "paper": paper, "what": what}
    if se is not None:
        c["se"] = round(float(se), SE_DIGITS)
    return c


def write(claims: list[dict], path: str | os.PathLike) -> Path:
    """Write the claims as JSON, atomically."""
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(claims, indent=1) + "\n")
    return Path(path)


def read(path: str | os.PathLike) -> list[dict]:
    """Read a claims file."""
    return json.loads(Path(path).read_text())


def table(claims: list[dict]) -> str:
    """A plain-text table of claims: name, ours, paper."""
    fmt = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    rows = [("claim", "ours", "paper")] + [(c["name"], fmt(c["ours"]), fmt(c["paper"])) for c in claims]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)


# Formatting for the notebooks' conclusions, which are rendered from the run's numbers (one rule each, here once).

def binomial_se(share: float, n: int) -> float:
    """The standard error of a share measured on n samples: sqrt(p (1 - p) / n) (nan for n = 0)."""
    return math.sqrt(share * (1 - share) / n) if n else float("nan")


def percent(share: float, digits: int = 1) -> str:
    """A share as a percentage: 0.246 -> '24.6%'."""
    return f"{100 * share:.{digits}f}%"


def pm(value: float, se: float | None, digits: int = 3) -> str:
    """A value with its standard error: '0.735 +- 0.028' (the value alone without one)."""
    return f"{value:.{digits}f}" if se is None else f"{value:.{digits}f} +- {se:.{digits}f}"


def span(values, digits: int = 2) -> str:
    """The range of some numbers as 'low-high' (one number when they agree at that precision)."""
    low, high = f"{min(values):.{digits}f}", f"{max(values):.{digits}f}"
    return low if low == high else f"{low}-{high}"


def differ(a: float, se_a: float, b: float, se_b: float) -> bool:
    """Whether two independent measurements differ by more than two standard errors of their difference."""
    return abs(a - b) > 2 * math.hypot(se_a, se_b)


CHANCE_MARGIN = 0.05  # an AUROC within this of 0.5 (or within two standard errors, where one is given) is "close to chance"


def versus_chance(auroc: float, se: float | None = None) -> str:
    """'close to chance', 'above chance' or 'below chance': close when |AUROC - 0.5| is at most CHANCE_MARGIN or at
    most two standard errors."""
    if abs(auroc - 0.5) <= max(CHANCE_MARGIN, 2 * se if se is not None else 0):
        return "close to chance"
    return "above chance" if auroc > 0.5 else "below chance"


def detects(auroc: float, se: float | None, removed: float, paper_removed: float) -> str:
    """How well a detector works against the paper's operating point, in one word: 'No' (AUROC close to chance,
    see versus_chance), 'Yes' (it removes at least the paper's share at the same retention) or 'Partly'."""
    if versus_chance(auroc, se) != "above chance":
        return "No"
    return "Yes" if removed >= paper_removed else "Partly"
