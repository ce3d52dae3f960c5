"""Sign-based descent: signSGD and Signum (Bernstein et al., 2018), whose steps keep only the
sign of each coordinate, and Rprop (Riedmiller & Braun, 1993), whose per-coordinate step sizes
follow the signs of successive gradients."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, EmptyState, Params, Transform, Updates, hyper, static
from ._combine import Chain
from ._moments import Ema
from ._optim import ScalarOrSchedule, optimizer_chain, sign
from ._scale import Scale
from ._tree import check_real, elementwise, tree_map_n, v_zeros_like_tree, zeros_like_tree
from ._validate import check_range


class ScaleBySign(Transform):
    r"""The sign of each coordinate (Bernstein et al., 2018, "signSGD: Compressed
    Optimisation for Non-Convex Problems", arXiv:1802.04434).

    $$ \text{out} = \operatorname{sign}(g) $$

    sign(0) = 0, and a NaN stays NaN. For a complex entry, sign(g) = g/|g|. Placed after
    ``Ema(β)`` it gives Signum's sign(m).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_sign()
        >>> g = jnp.array([0.5, -2.0, 0.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([ 1., -1.,  0.], dtype=float32)
    """

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        return elementwise(jnp.sign, updates), state  # sign(g)


scale_by_sign = ScaleBySign


def sign_sgd(learning_rate: ScalarOrSchedule, *, maximize: bool = False) -> Chain:
    """signSGD (Bernstein et al., 2018, arXiv:1802.04434, Algorithm 1): θ ← θ − α·sign(g).

    The chain: ``chain(scale_by_sign(), scale_by_learning_rate(α))``. Every coordinate
    moves by exactly α (0 where its gradient is 0). Arguments as Optax's ``sign_sgd``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.sign_sgd(0.1)
        >>> params = jnp.array([1.0, 1.0])
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(params))[0]
        Array([-0.1,  0.1], dtype=float32)
    """
    return optimizer_chain("sign_sgd", learning_rate, maximize, ScaleBySign())


def signum(
    learning_rate: ScalarOrSchedule,
    beta: Any = 0.9,
    m_dtype: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Signum (Bernstein et al., 2018, arXiv:1802.04434, Algorithm 3): signSGD with momentum.

    m ← βm + (1 − β)g; θ ← θ − α·sign(m). The chain: ``chain(Ema(β), scale_by_sign(),
    scale_by_learning_rate(α))``; m is not bias-corrected (the correction, a positive
    factor, would not change its sign). β = 0.9 is the paper's and Optax's default
    (``accumulator_dtype`` there is ``m_dtype`` here).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        beta: β in [0, 1).
        m_dtype: dtype of m (default: the parameter's).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.signum(0.1)
        >>> params = jnp.array([1.0, 1.0])
        >>> state = opt.init(params)
        >>> _, state = opt.update(jnp.array([3.0, 3.0]), state)  # m = (0.3, 0.3)
        >>> opt.update(jnp.array([-1.0, -4.0]), state)[0]  # m = (0.17, −0.13)
        Array([-0.1,  0.1], dtype=float32)
    """
    check_range("signum", "beta", beta, 0.0, 1.0, high_open=True)
    momentum = Ema(beta, dtype=m_dtype)
    return optimizer_chain("signum", learning_rate, maximize, momentum, ScaleBySign())


class RpropState(NamedTuple):
    """State of :class:`ScaleByRprop`.

    Attributes:
        step_size: Δ, the step size of each coordinate (real, at least float32).
        g_prev: the previous gradient as kept: 0 where its sign had flipped.
    """

    step_size: Any
    g_prev: Any


class ScaleByRprop(Transform):
    r"""Rprop's per-coordinate steps (Riedmiller & Braun, 1993, "A Direct Adaptive Method for
    Faster Backpropagation Learning: The RPROP Algorithm"), without weight-backtracking
    (iRprop⁻; Igel & Hüsken, 2000), as ``torch.optim.Rprop``.

    $$ s = \operatorname{sign}(g\, g_{prev}), \quad
       \Delta \leftarrow \operatorname{clip}\bigl(\Delta\cdot
       \{\eta^+ \text{ if } s > 0;\ \eta^- \text{ if } s < 0;\ 1 \text{ else}\},\,
       \Delta_{min}, \Delta_{max}\bigr), $$
    $$ g \leftarrow 0 \text{ where } s < 0, \qquad \text{out} = \Delta\,\operatorname{sign}(g),
       \qquad g_{prev} \leftarrow g $$

    Δ starts at Δ₀ (the learning rate) and g_prev at 0. A coordinate whose gradient changed
    sign does not move on that step, and the next step keeps its (reduced) Δ. The output is
    the ascent direction: follow it with ``scale(-1)``. Δ is clipped on every step, also
    where s = 0 (as torch; Optax clips only where s ≠ 0). Real parameters only.

    Attributes:
        learning_rate: Δ₀ > 0, the initial step size.
        eta_minus: η⁻ in (0, 1], the factor after a sign change.
        eta_plus: η⁺ ≥ 1, the factor while the sign holds.
        min_step_size: Δ_min ≥ 0.
        max_step_size: Δ_max ≥ Δ_min.
        dtype: dtype of Δ (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_rprop(0.1)
        >>> s = tx.init(jnp.zeros(1))
        >>> for g in (1.0, 1.0, -1.0, -1.0):
        ...     out, s = tx.update(jnp.array([g]), s)
        ...     print(out.round(6), s.inner.step_size.round(6))
        [0.1] [0.1]
        [0.12] [0.12]
        [0.] [0.06]
        [-0.06] [0.06]
    """

    learning_rate: Any
    eta_minus: Any = 0.5
    eta_plus: Any = 1.2
    min_step_size: Any = 1e-6
    max_step_size: Any = 50.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        _check_rprop(
            "scale_by_rprop",
            self.learning_rate,
            self.eta_minus,
            self.eta_plus,
            self.min_step_size,
            self.max_step_size,
        )

    def init_state(self, params: Params) -> RpropState:
        check_real("scale_by_rprop", params, "it compares the signs of successive gradients")
        step_size = v_zeros_like_tree(params, self.dtype, self.learning_rate)
        return RpropState(step_size=step_size, g_prev=zeros_like_tree(params))

    def step(
        self, updates: Updates, state: RpropState, params: Params | None, ctx: Context
    ) -> tuple[Updates, RpropState]:
        def leaf(
            g: jax.Array, g_prev: jax.Array, delta: jax.Array
        ) -> tuple[jax.Array, jax.Array, jax.Array]:
            dt = delta.dtype
            s = jnp.sign(g.astype(dt) * g_prev.astype(dt))  # sign(g·g_prev)
            factor = jnp.where(s > 0, hyper(self.eta_plus, dt), hyper(self.eta_minus, dt))
            factor = jnp.where(s == 0, jnp.ones_like(factor), factor)
            lo, hi = hyper(self.min_step_size, dt), hyper(self.max_step_size, dt)
            delta = jnp.clip(delta * factor, lo, hi)  # Δ ← clip(Δ·η, Δ_min, Δ_max)
            g = jnp.where(s < 0, jnp.zeros_like(g), g)  # no step after a sign change
            out = (delta * jnp.sign(g.astype(dt))).astype(g.dtype)  # Δ·sign(g)
            return out, g.astype(g_prev.dtype), delta

        out, g_prev, delta = tree_map_n(leaf, 3, updates, state.g_prev, state.step_size)
        return out, RpropState(step_size=delta, g_prev=g_prev)


scale_by_rprop = ScaleByRprop


def _check_rprop(owner: str, lr: Any, eta_minus: Any, eta_plus: Any, lo: Any, hi: Any) -> None:
    check_range(owner, "learning_rate", lr, 0.0, low_open=True)
    check_range(owner, "eta_minus", eta_minus, 0.0, 1.0, low_open=True)
    check_range(owner, "eta_plus", eta_plus, 1.0)
    check_range(owner, "min_step_size", lo, 0.0)
    check_range(owner, "max_step_size", hi, 0.0)
    if isinstance(lo, int | float) and isinstance(hi, int | float) and hi < lo:
        raise ValueError(
            f"{owner}: `max_step_size` must be at least `min_step_size` ({lo!r}), got {hi!r}."
        )


def rprop(
    learning_rate: Any,
    eta_minus: Any = 0.5,
    eta_plus: Any = 1.2,
    min_step_size: Any = 1e-6,
    max_step_size: Any = 50.0,
    *,
    maximize: bool = False,
    dtype: Any = None,
) -> Chain:
    """Rprop (Riedmiller & Braun, 1993), in the iRprop⁻ form of ``torch.optim.Rprop``.

    Each coordinate moves by its own step size Δ against the sign of its gradient; Δ grows
    by η⁺ while the sign holds and shrinks by η⁻ when it flips, and a coordinate whose sign
    flipped skips that step. The chain: ``chain(scale_by_rprop(Δ₀, η⁻, η⁺, Δ_min, Δ_max),
    scale(-1))``; see :class:`ScaleByRprop`.

    The defaults are the paper's (η⁻ = 0.5, η⁺ = 1.2, Δ_min = 1e-6, Δ_max = 50), Optax's and
    torch's; the paper's Δ₀ is 0.1, torch's 0.01. ``torch.optim.Rprop(lr, etas=(η⁻, η⁺),
    step_sizes=(Δ_min, Δ_max))`` is ``rprop(lr, η⁻, η⁺, Δ_min, Δ_max)``. Optax 0.2.8's
    ``rprop`` applies each step's update one step late (its first update is 0), so it is
    not this trajectory (tests/test_cat_simple.py shows the lag).

    Args:
        learning_rate: Δ₀ > 0, the initial step size (a number, not a schedule).
        eta_minus: η⁻ in (0, 1].
        eta_plus: η⁺ ≥ 1.
        min_step_size: Δ_min ≥ 0.
        max_step_size: Δ_max ≥ Δ_min.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).
        dtype: dtype of the step sizes Δ (default: real, at least float32).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.rprop(0.1)
        >>> params = jnp.array([1.0, 1.0])
        >>> state = opt.init(params)
        >>> _, state = opt.update(jnp.array([3.0, -2.0]), state)
        >>> opt.update(jnp.array([0.5, 4.0]), state)[0].round(6)  # Δ·1.2; a flip: no step
        Array([-0.12, -0.  ], dtype=float32)
    """
    if callable(learning_rate):
        raise TypeError(
            "rprop: `learning_rate` is the initial step size Δ₀: a number, not a schedule."
        )
    _check_rprop("rprop", learning_rate, eta_minus, eta_plus, min_step_size, max_step_size)
    core = ScaleByRprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size, dtype)
    return Chain((*sign(maximize), core, Scale(-1.0)), "rprop")
