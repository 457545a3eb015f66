"""One plotting style and a byte-stable, atomic savefig into figures/."""
import os
import tempfile
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns

METADATA = {".png": {"Software": None}, ".pdf": {"CreationDate": None, "Producer": None}, ".svg": {"Date": None}}


def style() -> None:
    """The companion's plotting style (seaborn ticks, readable sizes, fixed hash salt for SVG)."""
    sns.set_theme(style="ticks", context="notebook")
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight",
                         "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "modeinterp"})


def savefig(fig, path: str | os.PathLike, formats: tuple[str, ...] = (".png",)) -> list[Path]:
    """Save `fig` as path with each suffix in `formats`, without timestamps, atomically; return the paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in formats:
        if suffix not in METADATA:
            raise ValueError(f"formats must be among {sorted(METADATA)}; got {suffix!r}")
        target = path.with_suffix(suffix)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        os.close(fd)
        try:
            fig.savefig(tmp, format=suffix[1:], metadata=METADATA[suffix])
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written


def show(fig, path: str | os.PathLike | None = None) -> None:
    """Save the figure (if a path is given) and show it."""
    if path is not None:
        savefig(fig, path)
    plt.show()
