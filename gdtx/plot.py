"""Plots for teaching: paths on contours, loss against step, schedules against step.

Needs matplotlib, the ``plot`` extra (``pip install 'gdtx[plot]'``); it is
imported only when a function here is called, so ``import gdtx`` never needs it.
Each function draws into ``ax`` when given one (and returns its figure), else
creates a new :class:`matplotlib.figure.Figure` without touching pyplot's global
state, and returns it: display it in a notebook by ending a cell with it, or
save it with ``fig.savefig(...)``.

The contour-and-path picture follows Ruder, "An overview of gradient descent
optimization algorithms" (arXiv:1609.04747), and Zhang et al., *Dive into Deep
Learning*, chapter 12.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._record import Trajectory
from .problems import Problem

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["contours", "losses", "schedules"]


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the axes of a new pyplot-free figure; raises a clear error without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            "gdtx.plot needs matplotlib, which is not installed: install the `plot` extra "
            "with `pip install 'gdtx[plot]'` (or `pip install matplotlib`)."
        ) from err
    if ax is not None:
        return ax
    return Figure(figsize=figsize, layout="constrained").subplots()


def _figure(ax: Axes) -> Figure:
    fig = ax.get_figure()
    assert fig is not None
    return fig  # type: ignore[return-value]


def _path(value: Any, name: str) -> np.ndarray:
    """A path of 2-D points, shape (K, 2), from a Trajectory or an array."""
    arr = np.asarray(value.params if isinstance(value, Trajectory) else value, np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"gdtx.plot.contours: the path {name!r} must have shape (steps + 1, 2) (a 2-D "
            f"problem's parameters), got {arr.shape}."
        )
    return arr


def _series(value: Any, name: str) -> np.ndarray:
    """A 1-D series: a Trajectory's loss, or an array."""
    if isinstance(value, Trajectory):
        if value.loss is None:
            raise ValueError(f"gdtx.plot.losses: the trajectory {name!r} recorded no loss.")
        value = value.loss
    arr = np.asarray(value, np.float64)
    if arr.ndim != 1:
        raise ValueError(f"gdtx.plot.losses: {name!r} must be one value per step, got {arr.shape}.")
    return arr


def _style(i: int) -> dict[str, Any]:
    """Line style of the i-th curve: the 10 default colours, then again dashed, then dotted."""
    return {"color": f"C{i % 10}", "linestyle": ("-", "--", ":", "-.")[(i // 10) % 4]}


def _levels(problem: Problem, values: np.ndarray, n: int) -> np.ndarray:
    """Contour levels: log-spaced above the minimum for steep valleys, else linear."""
    if problem.levels == "log" and problem.min_value is not None:
        above = values - problem.min_value
        top = float(np.max(above))
        low = max(float(np.min(above[above > 0], initial=top)), top * 1e-6)
        return problem.min_value + np.geomspace(low, top, n)
    return np.linspace(float(np.min(values)), float(np.max(values)), n)


def contours(
    problem: Problem,
    paths: Mapping[str, Any] | None = None,
    *,
    ax: Axes | None = None,
    steps: int | None = None,
    levels: int = 30,
    title: str | None = None,
    resolution: int = 200,
    figsize: tuple[float, float] = (6.0, 4.5),
) -> Figure:
    """The contours of a 2-D problem with the paths of several optimizers on them.

    Marks the start (black dot), the minimum (★) and any saddle point (×), and
    limits the view to ``problem.window`` (paths that leave it are cut off).

    Args:
        problem: a :class:`gdtx.problems.Problem`.
        paths: name → :class:`Trajectory` (of a 2-D problem) or array of shape
            ``(K, 2)``; each is drawn as a line, with a dot per point when it has
            at most 200 points (ten colours, then the same dashed).
        ax: the axes to draw into (default: a new figure).
        steps: draw only the first ``steps`` updates of each path.
        levels: the number of contour levels.
        title: the title (default: the problem's name).
        resolution: grid points per axis for the contours.
        figsize: the size of a new figure, in inches.

    Returns:
        The figure.

    Example:
        >>> import gdtx
        >>> from gdtx import problems
        >>> traj = gdtx.record(gdtx.sgd(0.4), problems.quadratic, steps=20)
        >>> fig = gdtx.plot.contours(problems.quadratic, {"sgd, α = 0.4": traj})
        >>> fig.axes[0].get_title()
        '0.1·x₁² + 2·x₂²'
    """
    ax = _new_axes(ax, figsize)
    x1, x2, values = problem.grid(resolution)
    from matplotlib import colormaps

    shades = colormaps["Greys"](np.linspace(0.25, 0.75, levels))  # no invisible light levels
    ax.contour(
        x1, x2, values, levels=_levels(problem, values, levels), colors=shades, linewidths=0.6
    )
    for i, (name, value) in enumerate((paths or {}).items()):
        pts = _path(value, name)
        if steps is not None:
            pts = pts[: steps + 1]
        marker = "." if len(pts) <= 200 else None
        ax.plot(pts[:, 0], pts[:, 1], marker=marker, ms=3.5, lw=1.3, label=name, **_style(i))
    ax.plot(*problem.start, "o", color="black", ms=6, zorder=5, label="start")
    if problem.minimum is not None:
        ax.plot(*problem.minimum, "*", color="black", ms=13, zorder=5, label="minimum")
    if problem.saddle is not None:
        ax.plot(*problem.saddle, "x", color="black", ms=10, mew=2, zorder=5, label="saddle")
    (a, b), (c, d) = problem.window
    ax.set(xlim=(a, b), ylim=(c, d), xlabel="x₁", ylabel="x₂")
    ax.set_title(problem.name if title is None else title)
    ax.set_aspect("equal", adjustable="box")
    ax.legend(fontsize=8, loc="best")
    return _figure(ax)


def losses(
    curves: Mapping[str, Any],
    *,
    ax: Axes | None = None,
    minimum: float | None = None,
    yscale: str = "log",
    x: Any = None,
    xlabel: str = "step",
    ylabel: str | None = None,
    title: str | None = "loss against step",
    figsize: tuple[float, float] = (6.0, 4.0),
) -> Figure:
    """Loss (or any per-step quantity) against step for several runs.

    Args:
        curves: name → :class:`Trajectory` (its ``loss``) or a 1-D array of
            values per step; step 0 is the start.
        ax: the axes to draw into (default: a new figure).
        minimum: subtract this value (a problem's ``min_value``) and plot the gap
            f(θ_k) − f*, so a log scale shows the convergence rate.
        yscale: ``"log"``, ``"linear"`` or ``"symlog"`` (for losses that go below 0).
        x: the horizontal positions (default 0, 1, 2, … per curve), e.g. epochs.
        xlabel: the horizontal axis label.
        ylabel: the vertical axis label (default "loss", or "loss − f*").
        title: the title.
        figsize: the size of a new figure, in inches.

    Returns:
        The figure.

    Example:
        >>> import gdtx
        >>> from gdtx import problems
        >>> runs = gdtx.record_many(
        ...     {"sgd": gdtx.sgd(0.4), "adam": gdtx.adam(0.3)}, problems.quadratic, steps=50
        ... )
        >>> fig = gdtx.plot.losses(runs, minimum=0.0)
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['sgd', 'adam']
    """
    ax = _new_axes(ax, figsize)
    for i, (name, value) in enumerate(curves.items()):
        ys = _series(value, name)
        if minimum is not None:
            ys = ys - minimum
        if yscale == "log":
            ys = np.where(ys > 0, ys, np.nan)  # a gap instead of log(0)
        xs = np.arange(len(ys)) if x is None else np.asarray(x)
        ax.plot(xs, ys, lw=1.4, label=name, **_style(i))
    ax.set_yscale(yscale)
    default_label = "loss" if minimum is None else "loss − f*"
    ax.set(xlabel=xlabel, ylabel=default_label if ylabel is None else ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return _figure(ax)


def schedules(
    rules: Mapping[str, Callable[[Any], Any]],
    steps: int,
    *,
    ax: Axes | None = None,
    steps_per_epoch: int | None = None,
    yscale: str = "linear",
    title: str | None = "learning rate against step",
    figsize: tuple[float, float] = (6.0, 4.0),
) -> Figure:
    """Learning-rate schedules against the step t = 1 … ``steps``.

    A schedule is called with ``count`` = t − 1, the number of steps before
    the current one, as the optimizers call it.

    Args:
        rules: name → schedule (a gdtx schedule or any function of the count).
        steps: the number of steps to draw.
        ax: the axes to draw into (default: a new figure).
        steps_per_epoch: draw a faint vertical line at each epoch boundary.
        yscale: ``"linear"`` or ``"log"``.
        title: the title.
        figsize: the size of a new figure, in inches.

    Returns:
        The figure.

    Example:
        >>> import gdtx
        >>> rules = {"α₀/√t": gdtx.inverse_sqrt_decay(5e-3), "0.95ᵗ⁻¹·α₀": gdtx.exponential_decay(
        ...     5e-3, transition_steps=1, decay_rate=0.95)}
        >>> fig = gdtx.plot.schedules(rules, steps=50)
        >>> fig.axes[0].get_xlabel()
        'step t'
    """
    import jax
    import jax.numpy as jnp

    ax = _new_axes(ax, figsize)
    counts = jnp.arange(steps, dtype=jnp.int32)
    t = np.arange(1, steps + 1)
    for i, (name, rule) in enumerate(rules.items()):
        values = np.asarray(jax.vmap(lambda c, rule=rule: jnp.asarray(rule(c)))(counts), np.float64)
        values = np.broadcast_to(values, t.shape)
        ax.plot(t, values, lw=1.6, label=name, drawstyle="steps-post", **_style(i))
    if steps_per_epoch:
        for boundary in range(steps_per_epoch + 1, steps + 1, steps_per_epoch):
            ax.axvline(boundary, color="grey", lw=0.5, alpha=0.4)
    ax.set_yscale(yscale)
    ax.set(xlabel="step t", ylabel="learning rate α_t")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return _figure(ax)
