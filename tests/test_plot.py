"""gdtx.plot: each helper returns a labelled matplotlib figure; matplotlib stays optional."""

from __future__ import annotations

import io
import subprocess
import sys

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import gdtx
from gdtx import problems

matplotlib.use("Agg")  # gdtx.plot never touches pyplot; this keeps any stray figure headless


def labels(ax: Axes) -> list[str]:
    return [str(line.get_label()) for line in ax.get_lines()]


def png_bytes(fig: Figure) -> int:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return len(buffer.getvalue())


def test_contours_draw_paths_landmarks_and_window():
    runs = gdtx.record_many(
        {"sgd": gdtx.sgd(0.4), "adam": gdtx.adam(0.3)}, problems.quadratic, steps=30
    )
    fig = gdtx.plot.contours(problems.quadratic, runs, steps=10)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert labels(ax) == ["sgd", "adam", "start", "minimum"]
    assert len(ax.get_lines()[0].get_xdata()) == 11  # the start and 10 steps
    assert ax.get_title() == problems.quadratic.name
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₁", "x₂")
    assert ax.get_xlim() == problems.quadratic.window[0]
    assert ax.get_legend() is not None
    assert png_bytes(fig) > 1000


def test_contours_accept_arrays_mark_saddles_and_use_log_levels():
    path = np.array([[-1.5, 0.001], [-1.0, 0.002], [-0.5, 0.004]])
    fig = gdtx.plot.contours(problems.saddle, {"by hand": path}, title="saddle")
    ax = fig.axes[0]
    assert labels(ax) == ["by hand", "start", "saddle"]
    assert ax.get_title() == "saddle"
    fig = gdtx.plot.contours(problems.rosenbrock, levels=12)
    assert labels(fig.axes[0]) == ["start", "minimum"]
    with pytest.raises(ValueError, match=r"shape \(steps \+ 1, 2\)"):
        gdtx.plot.contours(problems.beale, {"bad": np.zeros((5, 3))})


def test_many_paths_get_distinct_styles():
    paths = {f"run {i}": np.array([[0.0, 0.0], [float(i), 1.0]]) for i in range(12)}
    ax = gdtx.plot.contours(problems.quadratic, paths).axes[0]
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()[:12]}
    assert len(styles) == 12


def test_losses_plots_trajectories_and_arrays():
    runs = gdtx.record_many(
        {"sgd": gdtx.sgd(0.4), "adam": gdtx.adam(0.3)}, problems.quadratic, steps=40
    )
    fig = gdtx.plot.losses(runs, minimum=0.0, title="gap")
    ax = fig.axes[0]
    assert labels(ax) == ["sgd", "adam"]
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "loss − f*"
    assert ax.get_xlabel() == "step" and ax.get_title() == "gap"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), np.asarray(runs["sgd"].loss))
    fig = gdtx.plot.losses(
        {"per epoch": np.array([3.0, 2.0, -1.0])}, yscale="symlog", x=[0, 10, 20], xlabel="epoch"
    )
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog" and ax.get_xlabel() == "epoch"
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 10, 20])
    with pytest.raises(ValueError, match="one value per step"):
        gdtx.plot.losses({"bad": np.zeros((3, 2))})


def test_losses_rejects_a_trajectory_without_loss():
    traj = gdtx.record(
        gdtx.sgd(0.1), lambda w, b: jnp.sum((w - b) ** 2), jnp.zeros(2), batches=np.ones((3, 2))
    )
    with pytest.raises(ValueError, match="recorded no loss"):
        gdtx.plot.losses({"minibatch": traj})


def test_schedules_are_drawn_at_count_t_minus_1():
    rule = gdtx.exponential_decay(1.0, transition_steps=1, decay_rate=0.5)
    fig = gdtx.plot.schedules(
        {"halving": rule, "constant": gdtx.constant_schedule(0.3)}, steps=4, steps_per_epoch=2
    )
    ax = fig.axes[0]
    halving, constant = ax.get_lines()[:2]
    np.testing.assert_array_equal(halving.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(halving.get_ydata(), [1.0, 0.5, 0.25, 0.125])
    np.testing.assert_allclose(constant.get_ydata(), [0.3] * 4)
    assert ax.get_xlabel() == "step t" and ax.get_ylabel() == "learning rate α_t"
    assert [str(t.get_text()) for t in ax.get_legend().get_texts()] == ["halving", "constant"]


def test_drawing_into_given_axes_returns_their_figure():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    traj = gdtx.record(gdtx.adam(0.3), problems.beale, steps=20)
    assert gdtx.plot.contours(problems.beale, {"adam": traj}, ax=left) is fig
    assert gdtx.plot.losses({"adam": traj}, ax=right) is fig
    assert len(fig.axes) == 2


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    with pytest.raises(ImportError, match=r"gdtx\[plot\]"):
        gdtx.plot.losses({"x": np.ones(3)})


def test_importing_gdtx_does_not_import_matplotlib_flax_or_equinox():
    """Optional dependencies load only with the module that needs them (gdtx.plot,
    gdtx.nnx, gdtx.linen, gdtx.equinox)."""
    optional = ("matplotlib", "flax", "equinox")
    code = f"import sys, gdtx; print([m for m in {optional!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
