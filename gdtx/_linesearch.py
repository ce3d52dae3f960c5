"""A line search on the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6).

The block receives a direction u (the updates) and finds a step size η along it by
evaluating the objective: ``update(u, state, params, value=f(θ), grad=∇f(θ),
value_fn=f)``, as Optax's ``scale_by_zoom_linesearch``. Keyword arguments besides those
three go to ``value_fn`` (a batch, say).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, static
from ._objective import signed_objective, trial_point, value_and_grad_at_start
from ._tree import elementwise, real_dtype, tree_select, tree_vdot, zeros_like_tree
from ._validate import check_positive_int, check_range

_OWNER = "scale_by_zoom_linesearch"


class LinesearchInfo(NamedTuple):
    """What the last line search did.

    Attributes:
        num_linesearch_steps: evaluations of the objective it made.
        decrease_error: by how much the chosen step misses sufficient decrease (0: met).
        curvature_error: by how much it misses the curvature condition (0: met).
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class LinesearchState(NamedTuple):
    """State of :class:`ScaleByZoomLinesearch` (Optax's field names, so that
    ``optax.value_and_grad_from_state`` reads it too).

    Attributes:
        learning_rate: the step size η the last search chose (1 before the first).
        value: f at the point the last search chose (∞ before the first).
        grad: ∇f there (zeros before the first).
        info: the last search's :class:`LinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    info: LinesearchInfo


class _Search(NamedTuple):
    """The running state of one search (a ``while_loop`` carry)."""

    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]  (a field, as in OptState)
    stepsize: jax.Array
    value: jax.Array
    grad: Any
    slope: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    interval_found: jax.Array
    done: jax.Array
    failed: jax.Array
    low: jax.Array
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array
    safe_value: jax.Array
    safe_grad: Any


class ScaleByZoomLinesearch(Transform):
    r"""Scales the direction u by a step size η that meets the strong Wolfe conditions.

    With φ(η) = f(θ + ηu) and φ′(η) = ⟨∇f(θ + ηu), u⟩, a step is accepted when

    $$ \phi(\eta) \le \phi(0) + c_1\eta\,\phi'(0) + \text{tol}
       \quad\text{and}\quad |\phi'(\eta)| \le c_2|\phi'(0)| + \text{tol}, $$

    out = η·u. The search (Nocedal & Wright, *Numerical Optimization*, 2nd ed.,
    Algorithms 3.5 and 3.6) first grows η from a guess by ``increase_factor`` until an
    interval [low, high] must hold an acceptable step, then shrinks it, trying the
    minimiser of a cubic through low, high and the previous end, else of a quadratic
    through low and high, else the midpoint (a candidate within 20 % resp. 10 % of an
    end is refused). Near a minimum, where φ(η) − φ(0) drowns in rounding, sufficient
    decrease may be met instead by Hager & Zhang's (2006) approximate condition
    φ′(η) ≤ (2c₁ − 1)φ′(0) while φ(η) ≤ φ(0) + c₃|φ(0)|. When the search runs out of
    steps, or the interval is shorter than ``stepsize_precision`` and some step gave
    sufficient decrease, it takes the best such step (else its last). These choices
    are Optax's ``scale_by_zoom_linesearch``'s, with its argument names and defaults;
    ``verbose`` is not offered.

    Call ``update(u, state, params, value=f(θ), grad=∇f(θ), value_fn=f, **data)``:
    ``value_fn(params, **data)`` returns the scalar objective, and every further
    keyword argument goes to it. ``value`` and ``grad`` may be left out (they are then
    computed with one more evaluation). The state keeps f and ∇f at the chosen point,
    which :func:`value_and_grad_from_state` hands to the next step. Real parameters
    only.

    Attributes:
        max_linesearch_steps: evaluations per search (≥ 1).
        max_learning_rate: the largest η tried, or ``None``.
        tol: the absolute slack in both conditions (≥ 0).
        increase_factor: growth of η while no interval is found (> 1).
        slope_rtol: c₁ in (0, 1).
        curv_rtol: c₂ > 0 (∞ drops the curvature condition: a backtracking search).
        approx_dec_rtol: c₃ ≥ 0, or ``None`` for plain sufficient decrease only.
        stepsize_precision: the interval length below which the search settles (≥ 0).
        initial_guess_strategy: ``"keep"`` (the last η) or ``"one"`` (static).
        maximize: search for a larger f: f ← −f (static; see :func:`gdtx.lbfgs`).

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
        >>> tx = gdtx.chain(gdtx.scale(-1.0), gdtx.scale_by_zoom_linesearch(10))
        >>> x = jnp.array([3.0, -1.0])
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> u, state = tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
        >>> gdtx.apply_updates(x, u)  # η = 1/2 lands on the minimum
        Array([1., 1.], dtype=float32)
    """

    max_linesearch_steps: Any = 20
    max_learning_rate: Any = None
    tol: Any = 0.0
    increase_factor: Any = 2.0
    slope_rtol: Any = 1e-4
    curv_rtol: Any = 0.9
    approx_dec_rtol: Any = 1e-6
    stepsize_precision: Any = 1e-5
    initial_guess_strategy: str = static(default="keep")
    maximize: bool = static(default=False)
    extra_args: ClassVar[tuple[str, ...]] = ("value", "grad", "value_fn")
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_positive_int(_OWNER, "max_linesearch_steps", self.max_linesearch_steps)
        if self.max_learning_rate is not None:
            check_range(_OWNER, "max_learning_rate", self.max_learning_rate, 0.0, low_open=True)
        check_range(_OWNER, "tol", self.tol, 0.0)
        check_range(_OWNER, "increase_factor", self.increase_factor, 1.0, low_open=True)
        check_range(_OWNER, "slope_rtol", self.slope_rtol, 0.0, 1.0, low_open=True, high_open=True)
        if not (isinstance(self.curv_rtol, float) and math.isinf(self.curv_rtol)):
            check_range(_OWNER, "curv_rtol", self.curv_rtol, 0.0, low_open=True)
        if self.approx_dec_rtol is not None:
            check_range(_OWNER, "approx_dec_rtol", self.approx_dec_rtol, 0.0)
        check_range(_OWNER, "stepsize_precision", self.stepsize_precision, 0.0)
        if self.initial_guess_strategy not in ("one", "keep"):
            raise ValueError(
                f"{_OWNER}: `initial_guess_strategy` must be 'one' or 'keep', got "
                f"{self.initial_guess_strategy!r}."
            )

    def consumed_args(self) -> frozenset[str] | None:
        return None  # keywords besides value, grad and value_fn go to value_fn

    def init_state(self, params: Params) -> LinesearchState:
        f = real_dtype(params)
        inf = jnp.full([], jnp.inf, f)
        return LinesearchState(
            learning_rate=jnp.ones([], f),
            value=inf,
            grad=zeros_like_tree(params),
            info=LinesearchInfo(jnp.zeros([], jnp.int32), inf, inf),
        )

    def step(
        self, updates: Updates, state: LinesearchState, params: Params | None, ctx: Context
    ) -> tuple[Updates, LinesearchState]:
        f = state.learning_rate.dtype
        sign = -1.0 if self.maximize else 1.0
        _, value_and_grad = signed_objective(_OWNER, ctx.extra, params, f, sign)
        value, grad = value_and_grad_at_start(ctx.extra, params, f, sign, value_and_grad)
        grad = jax.tree.map(lambda d, p: d.astype(p.dtype), grad, state.grad)
        guess = jnp.ones([], f) if self.initial_guess_strategy == "one" else state.learning_rate
        end = _search(self, f, params, updates, value, grad, guess, value_and_grad)
        eta = end.stepsize
        out = elementwise(lambda u: eta.astype(u.dtype) * u, updates)
        info = LinesearchInfo(end.count, end.decrease_error, end.curvature_error)
        new_grad = jax.tree.map(lambda d: sign * d, end.grad)
        return out, LinesearchState(eta, sign * end.value, new_grad, info)


def _search(
    ls: ScaleByZoomLinesearch,
    f: Any,
    params: Any,
    u: Any,
    value0: jax.Array,
    grad0: Any,
    guess: jax.Array,
    value_and_grad: Callable[[Any], tuple[jax.Array, Any]],
) -> _Search:
    """One search along u from θ: the ``while_loop`` of the two phases."""
    c1, c2, tol = (jnp.asarray(x).astype(f) for x in (ls.slope_rtol, ls.curv_rtol, ls.tol))
    steps = jnp.asarray(ls.max_linesearch_steps).astype(jnp.int32)
    slope0 = tree_vdot(grad0, u, f)  # φ′(0)

    def at(eta: jax.Array) -> tuple[jax.Array, Any, jax.Array]:
        """φ(η), ∇f(θ + ηu) and φ′(η)."""
        point = trial_point(params, eta, u)
        value, grad = value_and_grad(point)
        grad = jax.tree.map(lambda d, g0: d.astype(g0.dtype), grad, grad0)
        return value, grad, tree_vdot(grad, u, f)

    def errors(eta: jax.Array, value: jax.Array, slope: jax.Array) -> tuple[Any, Any]:
        dec = value - value0 - c1 * eta * slope0  # Armijo
        if ls.approx_dec_rtol is not None:  # Hager & Zhang's approximate Wolfe, near a minimum
            c3 = jnp.asarray(ls.approx_dec_rtol).astype(f)
            approx = jnp.maximum(
                slope - (2 * c1 - 1) * slope0, value - value0 - c3 * jnp.abs(value0)
            )
            dec = jnp.minimum(approx, dec)
        curv = jnp.abs(slope) - c2 * jnp.abs(slope0)

        def clean(e: jax.Array) -> jax.Array:
            e = jnp.maximum(e, 0)
            return jnp.where(jnp.isnan(e), jnp.inf, e)

        return clean(dec), clean(curv)

    def grow(s: _Search) -> _Search:
        """Algorithm 3.5: a larger η until [low, high] brackets an acceptable step."""
        eta = jnp.where(s.count == 0, guess, jnp.asarray(ls.increase_factor).astype(f) * s.stepsize)
        at_max = jnp.zeros([], bool)
        if ls.max_learning_rate is not None:
            cap = jnp.asarray(ls.max_learning_rate).astype(f)
            at_max = eta >= cap
            eta = jnp.minimum(eta, cap)
        value, grad, slope = at(eta)
        dec, curv = errors(eta, value, slope)
        ok = jnp.maximum(dec, curv) <= tol
        safe = dec <= tol
        high_is_new = (dec > 0) | ((value >= s.value) & (s.count > 0))
        low_is_new = (slope >= 0) & ~high_is_new
        prev, new = (s.stepsize, s.value, s.slope), (eta, value, slope)
        (low, f_low, d_low), (high, f_high, d_high) = (
            tree_select(low_is_new, new, prev),
            tree_select(low_is_new, prev, new),
        )
        found = high_is_new | low_is_new | ok
        done = ok | (at_max & ~found)
        return _Search(
            count=s.count + 1,
            stepsize=eta,
            value=value,
            grad=grad,
            slope=slope,
            decrease_error=dec,
            curvature_error=curv,
            interval_found=found,
            done=done,
            failed=(s.count + 1 >= steps) & ~done,
            low=low,
            value_low=f_low,
            slope_low=d_low,
            high=high,
            value_high=f_high,
            slope_high=d_high,
            cubic_ref=low,
            value_cubic_ref=f_low,
            safe_stepsize=jnp.where(safe, eta, s.safe_stepsize),
            safe_value=jnp.where(safe, value, s.safe_value),
            safe_grad=tree_select(safe, grad, s.safe_grad),
        )

    def zoom(s: _Search) -> _Search:
        """Algorithm 3.6: shrink [low, high] around an acceptable step."""
        width = jnp.abs(s.high - s.low)
        left, right = jnp.minimum(s.low, s.high), jnp.maximum(s.low, s.high)
        cubic = _cubic_min(
            s.low, s.value_low, s.slope_low, s.high, s.value_high, s.cubic_ref, s.value_cubic_ref
        )
        use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
        quad = _quadratic_min(s.low, s.value_low, s.slope_low, s.high, s.value_high)
        use_quad = ~use_cubic & (quad > left + 0.1 * width) & (quad < right - 0.1 * width)
        eta = jnp.where(use_cubic, cubic, jnp.where(use_quad, quad, (s.low + s.high) / 2))
        value, grad, slope = at(eta)
        dec, curv = errors(eta, value, slope)
        done = jnp.maximum(dec, curv) <= tol
        better = (dec <= tol) & (value < s.safe_value)
        safe_stepsize = jnp.where(better, eta, s.safe_stepsize)
        high_is_new = (dec > 0) | (value >= s.value_low)
        high_is_low = (slope * (s.high - s.low) >= 0) & ~high_is_new
        new, low = (eta, value, slope), (s.low, s.value_low, s.slope_low)
        high_old = (s.high, s.value_high, s.slope_high)
        high = tree_select(high_is_new, new, tree_select(high_is_low, low, high_old))
        low = tree_select(high_is_new, low, new)
        ref = tree_select(high_is_new | high_is_low, (s.high, s.value_high), (s.low, s.value_low))
        settled = (width <= jnp.asarray(ls.stepsize_precision).astype(f)) & (safe_stepsize > 0)
        return _Search(
            count=s.count + 1,
            stepsize=eta,
            value=value,
            grad=grad,
            slope=slope,
            decrease_error=dec,
            curvature_error=curv,
            interval_found=s.interval_found,
            done=done,
            failed=((s.count + 1 >= steps) | settled) & ~done,
            low=low[0],
            value_low=low[1],
            slope_low=low[2],
            high=high[0],
            value_high=high[1],
            slope_high=high[2],
            cubic_ref=ref[0],
            value_cubic_ref=ref[1],
            safe_stepsize=safe_stepsize,
            safe_value=jnp.where(better, value, s.safe_value),
            safe_grad=tree_select(better, grad, s.safe_grad),
        )

    def fall_back(s: _Search) -> _Search:
        """Out of steps: the best step with sufficient decrease, if any (or if the last
        step left f's domain), else the last one."""
        use = (s.safe_stepsize > 0) | jnp.isinf(s.decrease_error)
        eta, value, grad = tree_select(
            use, (s.safe_stepsize, s.safe_value, s.safe_grad), (s.stepsize, s.value, s.grad)
        )
        return s._replace(stepsize=eta, value=value, grad=grad)

    def body(s: _Search) -> _Search:
        s = jax.lax.cond(s.interval_found, zoom, grow, s)
        return jax.lax.cond(s.failed, fall_back, lambda s: s, s)

    def going(s: _Search) -> jax.Array:
        return ~(s.done | s.failed)

    zero, inf, false = jnp.zeros([], f), jnp.full([], jnp.inf, f), jnp.zeros([], bool)
    start = _Search(
        count=jnp.zeros([], jnp.int32),
        stepsize=zero,
        value=value0,
        grad=grad0,
        slope=slope0,
        decrease_error=inf,
        curvature_error=inf,
        interval_found=false,
        done=false,
        failed=false,
        low=zero,
        value_low=value0,
        slope_low=slope0,
        high=zero,
        value_high=value0,
        slope_high=slope0,
        cubic_ref=zero,
        value_cubic_ref=value0,
        safe_stepsize=zero,
        safe_value=value0,
        safe_grad=grad0,
    )
    return jax.lax.while_loop(going, body, start)


def _cubic_min(
    a: jax.Array,
    fa: jax.Array,
    da: jax.Array,
    b: jax.Array,
    fb: jax.Array,
    c: jax.Array,
    fc: jax.Array,
) -> jax.Array:
    """The minimiser of the cubic through (a, fa), (b, fb), (c, fc) with slope da at a
    (NaN where there is none: the search then refuses it)."""
    db, dc = b - a, c - a
    rb, rc = fb - fa - da * db, fc - fa - da * dc  # what the line through a leaves over
    denom = (db * dc) ** 2 * (db - dc)
    A = (dc**2 * rb - db**2 * rc) / denom  # p(x) = A(x−a)³ + B(x−a)² + da(x−a) + fa
    B = (db**3 * rc - dc**3 * rb) / denom
    return a + (-B + jnp.sqrt(B * B - 3 * A * da)) / (3 * A)


def _quadratic_min(
    a: jax.Array, fa: jax.Array, da: jax.Array, b: jax.Array, fb: jax.Array
) -> jax.Array:
    """The minimiser of the quadratic through (a, fa), (b, fb) with slope da at a."""
    db = b - a
    B = (fb - fa - da * db) / db**2
    return a - da / (2 * B)


scale_by_zoom_linesearch = ScaleByZoomLinesearch
