r"""Sophia (Liu et al., 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for
Language Model Pre-training", arXiv:2305.14342): momentum divided by a clipped diagonal
Hessian estimate, Hutchinson's by default (Sophia-H).

The estimate needs the objective: ``update(grads, state, params, obj_fn=f)``, with
``f(params)`` the scalar loss of the current batch, as Optax's ``contrib.sophia`` takes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, State, Transform, Updates, hyper, static
from ._combine import Chain, as_transform
from ._layout import Packed
from ._moments import correction_factor, ewma_step
from ._noise import draw_like, rademacher
from ._optim import ScalarOrSchedule, optimizer_chain
from ._tree import (
    check_real,
    elementwise,
    real_dtype,
    tree_vdot,
    v_zeros_like_tree,
    zeros_like_tree,
)
from ._validate import check_params, check_positive_int, check_range


class HutchinsonState(NamedTuple):
    """State of :class:`HutchinsonDiagHessian`.

    Attributes:
        key: the PRNG key of the next draw.
    """

    key: jax.Array


class HutchinsonDiagHessian(Transform):
    r"""Hutchinson's unbiased estimate of the Hessian's diagonal (Hutchinson, 1989; Sophia-H).

    $$ u \sim \text{Rademacher}, \qquad \text{out} = u \odot (\nabla^2 f(\theta)\, u) $$

    The Hessian-vector product is forward-over-reverse differentiation of f, the
    ``obj_fn`` keyword of ``update`` (a function of the parameters, as given to
    ``update``, returning the scalar loss), as Optax computes it; the incoming updates
    are not read. E[out] is the diagonal of ∇²f. Each parameter array draws its signs
    from its own key, split from the state's key as Optax does, so the same key gives
    Optax's draws on the same tree; packed parameters get the same signs, laid out in
    their buffers (``draw_like``). On packed parameters ``obj_fn`` takes the
    :class:`~gdtx.Packed` value (typically ``lambda p: loss(packing.unpack(p))``), and
    the product is reverse-over-reverse, ∇⟨∇f(θ), u⟩, since ``Packing.unpack`` is a
    ``jax.custom_vjp``, which forward-mode differentiation cannot enter: the same
    estimate to float32 rounding.

    Attributes:
        random_seed: a PRNG key, or ``None`` for ``jax.random.PRNGKey(0)``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.hutchinson_estimator_diag_hessian()
        >>> p = jnp.array([1.0, 2.0])
        >>> f = lambda x: jnp.sum(jnp.array([3.0, 0.5]) * x**2)  # ∇²f = diag(6, 1)
        >>> tx.update(jnp.zeros(2), tx.init(p), p, obj_fn=f)[0]
        Array([6., 1.], dtype=float32)
    """

    random_seed: Any = None
    extra_args: ClassVar[tuple[str, ...]] = ("obj_fn",)
    reads_params: ClassVar[bool] = True

    def init_state(self, params: Params) -> HutchinsonState:
        key = self.random_seed if self.random_seed is not None else jax.random.PRNGKey(0)
        return HutchinsonState(key=key)

    def step(
        self, updates: Updates, state: HutchinsonState, params: Params | None, ctx: Context
    ) -> tuple[Updates, HutchinsonState]:
        obj_fn = ctx.extra.get("obj_fn")
        if obj_fn is None:
            raise ValueError(
                "hutchinson_estimator_diag_hessian needs the objective: call "
                "update(grads, state, params, obj_fn=f) with f(params) the scalar loss."
            )
        params = check_params("hutchinson_estimator_diag_hessian", params)
        key, sub = jax.random.split(state.key)
        signs = draw_like(sub, params, rademacher)  # u, one key per parameter array
        if isinstance(params, Packed):
            # obj_fn may unpack through Packing.unpack, a custom_vjp, which jax.jvp cannot
            # enter: reverse over reverse, ∇⟨∇f(θ), u⟩ = ∇²f·u (∇²f is symmetric)
            inner = lambda p: tree_vdot(jax.grad(obj_fn)(p), signs, real_dtype(p))  # noqa: E731
            hvp = jax.grad(inner)(params)
        else:
            hvp = jax.jvp(jax.grad(obj_fn), (params,), (signs,))[1]  # ∇²f·u
        return elementwise(lambda h, u: h * u, hvp, signs), HutchinsonState(key=key)


hutchinson_estimator_diag_hessian = HutchinsonDiagHessian


class SophiaState(NamedTuple):
    """State of :class:`ScaleBySophia`.

    Attributes:
        m: EWMA of g.
        h: EWMA of the Hessian-diagonal estimates (real, at least float32).
        hessian: the estimator's state.
    """

    m: Any
    h: Any
    hessian: Any


class ScaleBySophia(Transform):
    r"""Sophia's clipped, Hessian-preconditioned momentum (Liu et al., 2023, Algorithm 3).

    $$ m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
       \text{out} = \operatorname{clip}\Bigl(\frac{m / (1-\beta_1^t)}
       {\max(\gamma h, \varepsilon)},\; \rho\Bigr), $$

    then, on steps with count ≡ 0 (mod k), the estimator's ĥ enters
    h ← β₂h + (1 − β₂)ĥ. The output uses h before this step's estimate, as Optax's
    ``contrib.scale_by_sophia`` (the paper's Algorithm 3 estimates first): the first step
    divides by ε and is clipped to ±ρ. m̂ is bias-corrected as in Optax; the paper does
    not. ``clip_threshold=None`` leaves the ratio unclipped.

    Attributes:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1) (per estimate: every k steps).
        eps: ε > 0.
        gamma: γ > 0.
        clip_threshold: ρ > 0, or ``None``.
        update_interval: k ≥ 1, steps between estimates (static).
        hessian_diagonal_fn: the estimator (default :class:`HutchinsonDiagHessian`),
            given the gradients, the parameters and ``update``'s keyword arguments.
        mu_dtype: dtype of m (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_sophia()
        >>> p = jnp.array([1.0, -1.0])
        >>> f = lambda x: jnp.sum(x**2)
        >>> tx.update(2 * p, tx.init(p), p, obj_fn=f)[0]  # h = 0 yet: clipped to ±ρ
        Array([ 1., -1.], dtype=float32)
    """

    b1: Any = 0.965
    b2: Any = 0.99
    eps: Any = 1e-8
    gamma: Any = 0.01
    clip_threshold: Any = 1.0
    update_interval: int = static(default=10)
    hessian_diagonal_fn: Any = None
    mu_dtype: Any = static(default=None)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        owner = "scale_by_sophia"
        check_range(owner, "b1", self.b1, 0.0, 1.0, high_open=True)
        check_range(owner, "b2", self.b2, 0.0, 1.0, high_open=True)
        check_range(owner, "eps", self.eps, 0.0, low_open=True)
        check_range(owner, "gamma", self.gamma, 0.0, low_open=True)
        if self.clip_threshold is not None:
            check_range(owner, "clip_threshold", self.clip_threshold, 0.0, low_open=True)
        check_positive_int(owner, "update_interval", self.update_interval)
        fn = self.hessian_diagonal_fn
        object.__setattr__(
            self, "hessian_diagonal_fn", HutchinsonDiagHessian() if fn is None else as_transform(fn)
        )

    def init_state(self, params: Params) -> SophiaState:
        check_real("scale_by_sophia", params, "its clipping to [−ρ, ρ] needs an order")
        return SophiaState(
            m=zeros_like_tree(params, self.mu_dtype),
            h=v_zeros_like_tree(params),
            hessian=self.hessian_diagonal_fn.init_state(params),
        )

    def _estimates(self, count: jax.Array) -> jax.Array:
        """Estimates taken before step ``count``: the multiples of k below it."""
        k = self.update_interval
        return (count + k - 1) // k

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        yield self.hessian_diagonal_fn, state.hessian, self._estimates(count)

    def step(
        self, updates: Updates, state: SophiaState, params: Params | None, ctx: Context
    ) -> tuple[Updates, SophiaState]:
        params = check_params("scale_by_sophia", params)
        m = ewma_step(state.m, updates, self.b1)  # m ← β₁m + (1 − β₁)g
        c = correction_factor(self.b1, ctx.count)  # 1 − β₁ᵗ

        def ratio(m: jax.Array, h: jax.Array) -> jax.Array:
            den = jnp.maximum(hyper(self.gamma, h.dtype) * h, hyper(self.eps, h.dtype))
            r = m / c.astype(m.dtype) / den.astype(m.dtype)  # m̂ / max(γh, ε)
            if self.clip_threshold is None:
                return r
            rho = hyper(self.clip_threshold, r.dtype)
            return jnp.clip(r, -rho, rho)

        out = elementwise(ratio, m, state.h)
        sub_ctx = ctx.with_count(self._estimates(ctx.count))

        def estimate(hess_state: Any, h: Any) -> tuple[Any, Any]:
            h_hat, hess_state = self.hessian_diagonal_fn.step(updates, hess_state, params, sub_ctx)
            return hess_state, ewma_step(h, h_hat, self.b2)  # h ← β₂h + (1 − β₂)ĥ

        hessian, h = jax.lax.cond(
            ctx.count % self.update_interval == 0,
            estimate,
            lambda s, h: (s, h),
            state.hessian,
            state.h,
        )
        return out, SophiaState(m=m, h=h, hessian=hessian)


scale_by_sophia = ScaleBySophia


def sophia(
    learning_rate: ScalarOrSchedule,
    b1: Any = 0.965,
    b2: Any = 0.99,
    eps: Any = 1e-8,
    weight_decay: Any = 1e-4,
    weight_decay_mask: Any = None,
    gamma: Any = 0.01,
    clip_threshold: Any = 1.0,
    update_interval: int = 10,
    hessian_diagonal_fn: Any = None,
    mu_dtype: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Sophia (Liu et al., 2023, arXiv:2305.14342): θ ← θ − α(clip(m̂/max(γh, ε), ρ) + λθ).

    The chain: ``chain(scale_by_sophia(β₁, β₂, ε, γ, ρ, k, hessian_diagonal_fn),
    add_decayed_weights(λ, weight_decay_mask), scale_by_learning_rate(α))``; see
    :class:`ScaleBySophia`. Call ``update(grads, state, params, obj_fn=f)`` with f(params)
    the batch's scalar loss (for the default Hutchinson estimator; other estimators take
    the keywords they read). Defaults are Optax's ``contrib.sophia`` (the paper's β₁ =
    0.965, β₂ = 0.99, k = 10; its γ is tuned per model, and ρ = 1 here scales with γ as
    in Optax). Optax's ``verbose`` win-rate printing is left out.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1), per estimate.
        eps: ε > 0.
        weight_decay: λ ≥ 0, decoupled.
        weight_decay_mask: which leaves decay: a pytree of bools, a function of the
            parameters returning one, or ``None`` for all.
        gamma: γ > 0.
        clip_threshold: ρ > 0, or ``None`` for no clipping.
        update_interval: k ≥ 1, steps between Hessian estimates.
        hessian_diagonal_fn: the estimator (default: Hutchinson's with key 0); a gdtx or
            Optax transformation.
        mu_dtype: dtype of m (default: the parameter's).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``). The
            estimator differentiates ``obj_fn`` as given: pass −f when maximizing f.

    Returns:
        The optimizer.

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt = gdtx.sophia(0.1, weight_decay=0.0, update_interval=1)
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jax.grad(f)(params), state, params, obj_fn=f)
        >>> gdtx.apply_updates(params, updates)
        Array([ 0.9, -1.9], dtype=float32)
    """
    owner = "sophia"
    check_range(owner, "b1", b1, 0.0, 1.0, high_open=True)
    check_range(owner, "b2", b2, 0.0, 1.0, high_open=True)
    check_range(owner, "eps", eps, 0.0, low_open=True)
    check_range(owner, "gamma", gamma, 0.0, low_open=True)
    if clip_threshold is not None:
        check_range(owner, "clip_threshold", clip_threshold, 0.0, low_open=True)
    check_positive_int(owner, "update_interval", update_interval)
    core = ScaleBySophia(
        b1, b2, eps, gamma, clip_threshold, update_interval, hessian_diagonal_fn, mu_dtype
    )
    mask = weight_decay_mask
    return optimizer_chain(owner, learning_rate, maximize, core, decay=weight_decay, mask=mask)
