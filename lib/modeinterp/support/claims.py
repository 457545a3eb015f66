"""Claims: each section's numbers next to the paper's, written to figures/<section>/claims.json, from which
the README's results table is generated."""
import json
import os
from pathlib import Path

from .files import atomic


def claim(name: str, ours, paper, what: str) -> dict:
    """One claim: our measured value, the paper's (None where the paper gives none) and what it measures."""
    return {"name": name, "ours": ours, "paper": paper, "what": what}


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
