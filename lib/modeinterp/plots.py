"""One plotting style and a byte-stable, atomic savefig into figures/."""
import os
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns

from .files import atomic

METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None}, ".svg": {"Date": None}}


def style() -> None:
    """The companion's plotting style (seaborn ticks, readable sizes, fixed hash salt for SVG)."""
    sns.set_theme(style="ticks", context="notebook")
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight",
                         "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "modeinterp"})


def savefig(fig, path: str | os.PathLike, formats: tuple[str, ...] = (".png",)) -> list[Path]:
    """Save `fig` as path with each suffix in `formats`, without timestamps, atomically; return the paths."""
    bad = [s for s in formats if s not in METADATA]
    if bad:
        raise ValueError(f"formats must be among {sorted(METADATA)}; got {bad}")
    written = []
    for suffix in formats:
        with atomic(Path(path).with_suffix(suffix)) as tmp:
            fig.savefig(tmp, format=suffix[1:], metadata=METADATA[suffix])
        written.append(Path(path).with_suffix(suffix))
    return written


def show(fig, path: str | os.PathLike | None = None) -> None:
    """Save the figure (if a path is given) and show it."""
    if path is not None:
        savefig(fig, path)
    plt.show()
