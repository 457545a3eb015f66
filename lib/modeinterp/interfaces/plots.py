"""One plotting style and a byte-stable, atomic savefig into figures/."""
import os
import textwrap
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns
from sklearn.metrics import confusion_matrix

from ..support.files import atomic
from ..method.detection import roc

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


def images(x, title: str, rows: int = 2, cols: int = 8):
    """The first rows x cols grey images of x (N x H x W in [0, 1]) in a grid without axes, under a title."""
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows))
    for ax, im in zip(axes.flat, x):
        ax.imshow(im, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle(title)
    return fig


def decision(ts, agreement, spans: dict, T: int, title: str = ""):
    """The agreement of x0_hat with the final sample along the reverse process (t from T down to 0), with
    windows shaded: spans maps a label to (t_lo, t_hi)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(ts, agreement, color="k")
    for i, (label, (lo, hi)) in enumerate(spans.items()):
        ax.axvspan(lo, hi, color=("C0", "C3", "C2", "C1")[i % 4], alpha=0.2, label=f"{label}, t={lo}..{hi}")
    ax.set(xlabel="t (reverse process runs left to right)", ylabel="corr(x0_hat, final sample)", xlim=(T, 0),
           title=title)
    ax.legend(fontsize=8)
    return fig


def roc_curves(curves: dict, title: str = "", xlabel: str = "in-support removed",
               ylabel: str = "hallucinations removed"):
    """ROC curves: curves maps a label to (score, hallucinated, auroc, dashed)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for label, (score, hallucinated, auroc, dashed) in curves.items():
        fpr, tpr = roc(score, hallucinated)
        ax.plot(fpr, tpr, ls="--" if dashed else "-", label=f"{label}: {auroc:.2f}")
    ax.plot([0, 1], [0, 1], color="0.6", ls=":")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def aggregation_bars(table: dict, baselines: dict | None = None, title: str = ""):
    """AUROC per window (groups) and aggregation (bars): table maps an aggregation to {window label: Detection}
    (modeinterp.experiments.study.Comparison.table); baselines (name -> AUROC) are drawn as dashed lines."""
    windows = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(table)
    for i, (aggregation, rows) in enumerate(table.items()):
        xs = [j + (i - (len(table) - 1) / 2) * width for j in range(len(windows))]
        ax.bar(xs, [rows[w].auroc for w in windows], width, label=aggregation, color=f"C{i}")
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, color="0.3", ls=("--", "-.", ":")[k % 3], lw=1, label=f"{name} (no trajectory)")
    ax.axhline(0.5, color="0.6", ls=":", lw=1)
    ax.set(xticks=range(len(windows)), ylabel="AUROC", ylim=(0, 1.05), title=title)
    ax.set_xticklabels([textwrap.fill(w, 18) for w in windows], fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def window_aurocs(rows: list, marks: dict | None = None, T: int = 1000, title: str = "",
                  baselines: dict | None = None):
    """AUROC (+- one standard error) of each candidate window against its position: rows are (window, Detection)
    (study.Comparison.candidate_rows), drawn as a point at the window's centre with a bar over its extent;
    marks (label -> window) shade named windows (the paper's, the selected one); baselines (name -> AUROC) dashed."""
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for k, (label, (lo, hi)) in enumerate((marks or {}).items()):
        ax.axvspan(lo, hi, color=f"C{k + 1}", alpha=0.15, label=label)
    for (lo, hi), d in rows:
        ax.errorbar((lo + hi) / 2, d.auroc, yerr=d.se, xerr=(hi - lo) / 2, fmt="o", color="C0", capsize=2, ms=4)
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, color="0.3", ls=("--", "-.", ":")[k % 3], lw=1, label=f"{name} (no trajectory)")
    ax.axhline(0.5, color="0.6", ls=":", lw=1)
    ax.set(xlim=(T, 0), xlabel="window's timesteps t (reverse process runs left to right)", ylabel="AUROC",
           title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def study_series(ax, records: list[dict], aggregation: str, window: str, field: str = "auroc", errors: bool = True,
                 **style) -> None:
    """One study curve against training steps (log axis): the first sampling seed as a line, every other seed as
    points; with errors, one standard error as bars (see modeinterp.experiments.budget.series)."""
    from ..experiments.budget import series
    first = min(r["seed"] for r in records)
    line = style.pop("ls", style.pop("linestyle", "-"))
    for seeds, ls in (([first], line), (sorted({r["seed"] for r in records} - {first}), "none")):
        rows = [r for r in records if r["seed"] in seeds and r["detection"]]
        if rows:
            x, v, se = series(rows, aggregation, window, field)
            ax.errorbar(x, v, se if errors else None, fmt="o", ls=ls, capsize=2, **style)
            style.pop("label", None)
    ax.set_xscale("log")


def checkpoint_ticks(ax, steps) -> None:
    """A log x axis with ticks at the checkpoints only, named in thousands (no overlapping log-axis labels)."""
    ax.set_xscale("log")
    ax.set_xticks(steps, [f"{t / 1000:g}k" for t in steps])
    ax.minorticks_off()


def grid(x, titles, frames, title: str = "", rows: int = 4, cols: int = 8):
    """Grey images x (N x H x W in [0, 1]) in a rows x cols grid, each under its title and framed in its colour
    from frames (None: no frame)."""
    fig, axes = plt.subplots(rows, cols, figsize=(1.63 * cols, 1.8 * rows))
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, im, name, colour in zip(axes.flat, x, titles, frames):
        ax.set_axis_on()
        ax.imshow(im, cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
        ax.set(xticks=[], yticks=[])
        for spine in ax.spines.values():
            spine.set(visible=colour is not None, color=colour or "k", linewidth=3)
    fig.suptitle(title)
    return fig


def confusion(a, b, names: tuple[str, str], title: str = ""):
    """The counts of every pair of readings (a[i], b[i]) as an annotated heatmap: a on the rows, b on the columns."""
    values = sorted(set(a) | set(b))
    table = confusion_matrix(a, b, labels=values)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(values), 1.0 + 0.5 * len(values)))
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, xticklabels=values, yticklabels=values, ax=ax,
                norm=mpl.colors.LogNorm(vmin=1))
    ax.set(xlabel=names[1], ylabel=names[0], title=title)
    return fig


def fork_shares(forks, shares: dict, window, T: int, title: str = "fork test", window_label: str = "paper's window"):
    """Per fork timestep, the share of continuations whose counts change, one line per class: shares maps a label
    to (values per fork, colour); window (t_lo, t_hi) is shaded under window_label."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, (values, colour) in shares.items():
        ax.plot(forks, values, "o-", color=colour, label=label)
    ax.axvspan(*window, color="C1", alpha=0.15, label=window_label)
    ax.set(xlim=(T, 0), ylim=(-0.03, 1.03), xlabel="fork timestep t (reverse process runs left to right)",
           ylabel="continuations whose counts change", title=title)
    ax.legend(fontsize=8)
    return fig
