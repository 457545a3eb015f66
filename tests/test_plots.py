"""The shared figures: one line per curve, windows shaded, labels carry the AUROC."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from modeinterp.interfaces import plots  # noqa: E402


def test_decision_figure_shades_each_window():
    fig = plots.decision([9, 5, 0], [0.0, 0.5, 1.0], {"paper": (6, 8), "decision": (2, 5)}, T=10)
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and len(ax.patches) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["paper, t=6..8", "decision, t=2..5"]
    assert ax.get_xlim() == (10, 0)  # T on the left: the reverse process runs left to right, as the label says
    assert "left to right" in ax.get_xlabel()


def test_roc_curves_one_line_per_score_and_a_diagonal():
    hal = np.r_[np.zeros(10), np.ones(10)].astype(bool)
    fig = plots.roc_curves({"a": (np.arange(20.0), hal, 1.0, False), "b": (-np.arange(20.0), hal, 0.0, True)})
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.lines[1].get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a: 1.00", "b: 0.00"]


def test_image_grid_shows_the_first_rows_times_cols_images_on_their_own_scale():
    x = np.stack([np.full((4, 4), i / 20) for i in range(20)])
    fig = plots.images(x, "training images", rows=2, cols=3)
    shown = [ax.images[0].get_array()[0, 0] for ax in fig.axes]
    assert len(fig.axes) == 6 and np.allclose(shown, x[:6, 0, 0])
    assert all(ax.images[0].get_clim() == (0, 1) and not ax.axison for ax in fig.axes)
    assert fig.texts[0].get_text() == "training images"


def test_window_aurocs_one_point_per_candidate_at_its_centre_with_named_windows_shaded():
    from modeinterp.method import detection
    hal = np.r_[np.zeros(10), np.ones(10)].astype(bool)
    rows = [((0, 100), detection.detection(np.arange(20.0), hal)), ((700, 850), detection.detection(-np.arange(20.0), hal))]
    fig = plots.window_aurocs(rows, {"paper's window": (700, 850)}, T=1000, baselines={"pixels": 0.8})
    ax = fig.axes[0]
    centres = sorted(float(c.get_children()[0].get_xdata()[0]) for c in ax.containers)
    assert centres == [50.0, 775.0] and len(ax.patches) == 1 and ax.get_xlim() == (1000, 0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["paper's window", "pixels (no trajectory)"]


def test_grid_titles_and_frames_each_image_and_hides_the_empty_cells():
    x = np.stack([np.full((4, 4), i / 5) for i in range(5)])
    fig = plots.grid(x, [f"n{i}" for i in range(5)], ["C3", None, "0.6", None, None], "hands", rows=2, cols=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 6 and len(shown) == 5 and not fig.axes[5].axison
    assert [ax.get_title() for ax in shown] == ["n0", "n1", "n2", "n3", "n4"]
    assert [ax.spines["left"].get_visible() for ax in shown] == [True, False, True, False, False]
    assert np.allclose([ax.images[0].get_array()[0, 0] for ax in shown], x[:, 0, 0])


def test_confusion_counts_every_pair_of_readings():
    fig = plots.confusion(np.array([5, 5, 4, -1, 5]), np.array([5, 4, 4, 5, 5]), ("circles", "opening"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["-1", "4", "5"]
    assert [t.get_text() for t in ax.texts] == ["0", "0", "1", "0", "1", "0", "0", "1", "2"]
    assert ax.get_ylabel() == "circles" and ax.get_xlabel() == "opening"


def test_fork_shares_one_line_per_class_and_the_window_shaded():
    fig = plots.fork_shares([900, 500, 100], {"hallucinated (3)": ([0.9, 0.2, 0.0], "C3"), "in_support (3)": ([0.8, 0.1, 0.0], "C0")},
                            (600, 900), 1000)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len(ax.patches) == 1 and ax.get_xlim() == (1000, 0)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["hallucinated (3)", "in_support (3)", "paper's window"]


def test_checkpoint_ticks_name_only_the_checkpoints_in_thousands():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([750, 1500, 24000], [0, 1, 2])
    plots.checkpoint_ticks(ax, [750, 1500, 24000])
    assert ax.get_xscale() == "log" and list(ax.get_xticks()) == [750, 1500, 24000]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.75k", "1.5k", "24k"] and not ax.xaxis.get_minorticklocs().size
    plt.close(fig)
