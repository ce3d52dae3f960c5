"""A backtracking line search on sufficient decrease (Armijo's condition)."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, static
from ._objective import signed_objective, trial_point, value_and_grad_at_start
from ._tree import elementwise, real_dtype, tree_vdot, zeros_like_tree
from ._validate import check_positive_int, check_range

_OWNER = "scale_by_backtracking_linesearch"


class BacktrackingInfo(NamedTuple):
    """What the last backtracking search did.

    Attributes:
        num_linesearch_steps: evaluations of the objective it made.
        decrease_error: by how much the chosen step misses sufficient decrease (0: met).
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array


class BacktrackingState(NamedTuple):
    """State of :class:`ScaleByBacktrackingLinesearch` (Optax's field names).

    Attributes:
        learning_rate: the step size η the last search chose (1 before the first).
        value: f at the last point tried (∞ before the first).
        grad: ∇f there with ``store_grad=True`` (zeros before the first), else ``None``.
        info: the last search's :class:`BacktrackingInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Any
    info: BacktrackingInfo


class ScaleByBacktrackingLinesearch(Transform):
    r"""Scales the direction u by the first step size η = η₀δᵏ, k = 0, 1, …, with
    sufficient decrease (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 3.1):

    $$ f(\theta + \eta u) \le (1 + r) f(\theta) + c\,\eta\,\langle u, \nabla f(\theta)\rangle
       + a, \qquad \eta_0 = \min(\gamma\,\eta_{\text{prev}},\ \eta_{\max}), $$

    out = η·u, after at most ``max_backtracking_steps`` reductions (the last η tried if
    none succeeds; η = 0 if f was not finite there). u must be a descent direction.
    Optax's ``scale_by_backtracking_linesearch``, with its argument names and defaults
    (``verbose`` is not offered); call ``update`` as for
    :class:`ScaleByZoomLinesearch`. With ``store_grad=True`` the state keeps ∇f at the
    chosen point for :func:`value_and_grad_from_state` (one gradient per search).
    Real parameters only.

    Attributes:
        max_backtracking_steps: reductions of η per search (≥ 1).
        slope_rtol: c in [0, 1).
        decrease_factor: δ in (0, 1).
        increase_factor: γ ≥ 1, the growth of the first guess from the last η.
        max_learning_rate: η_max > 0.
        atol: a ≥ 0, the absolute slack.
        rtol: r ≥ 0, the slack relative to f(θ).
        store_grad: keep ∇f at the chosen point (static).
        maximize: search for a larger f: f ← −f (static).

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx = gdtx.chain(gdtx.scale(-1.0), gdtx.scale_by_backtracking_linesearch(15))
        >>> x = jnp.array([1.0, -2.0])
        >>> value, grad = jax.value_and_grad(f)(x)
        >>> u, state = tx.update(grad, tx.init(x), x, value=value, grad=grad, value_fn=f)
        >>> state.inner[1].learning_rate  # η₀ = min(1.5·1, 1) = 1 overshoots; 0.8 does not
        Array(0.8, dtype=float32)
    """

    max_backtracking_steps: Any = 15
    slope_rtol: Any = 1e-4
    decrease_factor: Any = 0.8
    increase_factor: Any = 1.5
    max_learning_rate: Any = 1.0
    atol: Any = 0.0
    rtol: Any = 0.0
    store_grad: bool = static(default=False)
    maximize: bool = static(default=False)
    extra_args: ClassVar[tuple[str, ...]] = ("value", "grad", "value_fn")
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_positive_int(_OWNER, "max_backtracking_steps", self.max_backtracking_steps)
        check_range(_OWNER, "slope_rtol", self.slope_rtol, 0.0, 1.0, high_open=True)
        check_range(
            _OWNER, "decrease_factor", self.decrease_factor, 0.0, 1.0, low_open=True, high_open=True
        )
        check_range(_OWNER, "increase_factor", self.increase_factor, 1.0)
        check_range(_OWNER, "max_learning_rate", self.max_learning_rate, 0.0, low_open=True)
        check_range(_OWNER, "atol", self.atol, 0.0)
        check_range(_OWNER, "rtol", self.rtol, 0.0)

    def consumed_args(self) -> frozenset[str] | None:
        return None  # keywords besides value, grad and value_fn go to value_fn

    def init_state(self, params: Params) -> BacktrackingState:
        f = real_dtype(params)
        inf = jnp.full([], jnp.inf, f)
        return BacktrackingState(
            learning_rate=jnp.ones([], f),
            value=inf,
            grad=zeros_like_tree(params) if self.store_grad else None,
            info=BacktrackingInfo(jnp.zeros([], jnp.int32), inf),
        )

    def step(
        self, updates: Updates, state: BacktrackingState, params: Params | None, ctx: Context
    ) -> tuple[Updates, BacktrackingState]:
        f = state.learning_rate.dtype
        sign = -1.0 if self.maximize else 1.0
        value_at, value_and_grad = signed_objective(_OWNER, ctx.extra, params, f, sign)
        value, grad = value_and_grad_at_start(ctx.extra, params, f, sign, value_and_grad)
        slope = tree_vdot(grad, updates, f)  # ⟨u, ∇f(θ)⟩
        c, r, a = (jnp.asarray(x).astype(f) for x in (self.slope_rtol, self.rtol, self.atol))
        shrink = jnp.asarray(self.decrease_factor).astype(f)
        steps = jnp.asarray(self.max_backtracking_steps).astype(jnp.int32)

        def point(eta: jax.Array) -> Any:
            return trial_point(params, eta, updates)

        def going(carry: tuple[jax.Array, ...]) -> jax.Array:
            _, _, dec, k = carry
            return ~(dec <= a) & (k <= steps)

        def body(carry: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
            eta, _, _, k = carry
            eta = jnp.where(k > 0, shrink * eta, eta)  # η ← δη after the first try
            new = value_at(point(eta))
            dec = new - (1 + r) * value - c * eta * slope  # Armijo, with slack
            dec = jnp.maximum(jnp.where(jnp.isnan(dec), jnp.inf, dec), 0)
            return eta, new, dec, k + 1

        first = jnp.minimum(
            jnp.asarray(self.increase_factor).astype(f) * state.learning_rate,
            jnp.asarray(self.max_learning_rate).astype(f),
        )
        inf = jnp.full([], jnp.inf, f)
        eta, new, dec, k = jax.lax.while_loop(
            going, body, (first, value, inf, jnp.zeros([], jnp.int32))
        )
        new_grad = None
        if self.store_grad:
            _, g = value_and_grad(point(eta))
            new_grad = jax.tree.map(lambda d, p: (sign * d).astype(p.dtype), g, state.grad)
        eta = jnp.where(jnp.isinf(dec), jnp.zeros_like(eta), eta)  # no finite f: no step
        out = elementwise(lambda u: eta.astype(u.dtype) * u, updates)
        return out, BacktrackingState(eta, sign * new, new_grad, BacktrackingInfo(k, dec))


scale_by_backtracking_linesearch = ScaleByBacktrackingLinesearch
