"""Momentum beyond the plain EWMA: heavy-ball trace momentum, Dozat's Nesterov EWMA and
Lion's sign of an interpolated momentum."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype, hyper, static
from ._moments import MState, correction_factor, ewma_step, zero_at_first_step
from ._tree import elementwise, tree_map_n, zeros_like_tree
from ._validate import check_range


class Trace(Transform):
    r"""Heavy-ball momentum in trace form, with dampening and Nesterov's variant.

    $$ m_1 = g, \qquad m \leftarrow \beta m + (1-\tau) g \;(t > 1), \qquad
       \text{out} = m \;\text{ or, with Nesterov, }\; g + \beta m $$

    Without dampening (τ = 0) m ← βm + g from m₀ = 0, as in Polyak (1964) and
    Sutskever et al. (2013); the first-step rule and τ follow ``torch.optim.SGD``.

    Attributes:
        decay: the momentum β in [0, 1).
        nesterov: output g + βm (Nesterov's look-ahead, Sutskever et al. 2013).
        dampening: τ in [0, 1]; must be 0 with Nesterov.
        m_dtype: dtype of m (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.trace(0.9)
        >>> g = jnp.ones(1)
        >>> s = tx.init(g)
        >>> out, s = tx.update(g, s)
        >>> out, s = tx.update(g, s)
        >>> out
        Array([1.9], dtype=float32)
    """

    decay: Any
    nesterov: bool = static(default=False)
    dampening: Any = 0.0
    m_dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("trace", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("trace", "dampening", self.dampening, 0.0, 1.0)
        if self.nesterov and isinstance(self.dampening, int | float) and self.dampening != 0:
            raise ValueError(
                f"trace: Nesterov momentum needs `dampening` = 0, got {self.dampening!r}."
            )

    def init_state(self, params: Params) -> MState:
        return MState(m=zeros_like_tree(params, self.m_dtype))

    def step(
        self, updates: Updates, state: MState, params: Params | None, ctx: Context
    ) -> tuple[Updates, MState]:
        # The first step has no dampening: with m₀ = 0, m₁ = β·0 + (1 − 0)·g = g.
        tau = zero_at_first_step(self.dampening, ctx.count)

        def leaf(g: jax.Array, m: jax.Array) -> tuple[jax.Array, jax.Array]:
            ct = compute_dtype(m.dtype)
            b = hyper(self.decay, ct)
            gc = g.astype(ct)
            m_new = b * m.astype(ct) + (1 - tau.astype(ct)) * gc  # m ← β·m + (1−τ)·g
            out = gc + b * m_new if self.nesterov else m_new  # Nesterov: g + β·m
            return out.astype(g.dtype), m_new.astype(m.dtype)

        out, m = tree_map_n(leaf, 2, updates, state.m)
        return out, MState(m=m)


class NadamState(NamedTuple):
    """State of :class:`NesterovEma`.

    Attributes:
        m: EWMA of g.
        mu_prod: Π_t = μ₁·…·μ_t, the running product of the momentum schedule, or
            ``None`` where nothing reads it: with a constant μ (Π_t = β₁ᵗ, from
            :func:`correction_factor`) or without the bias corrections.
    """

    m: Any
    mu_prod: jax.Array | None


def momentum_schedule(decay: Any, momentum_decay: Any, t: jax.Array) -> jax.Array:
    r"""Dozat's momentum schedule μ_t = β₁(1 − ½·0.96^{tψ}), or β₁ when ψ is ``None``.

    Args:
        decay: β₁.
        momentum_decay: ψ, or ``None`` for the constant μ_t = β₁.
        t: the step number (from 1), as a float array; the result has its dtype.
    """
    b1 = hyper(decay, t.dtype)
    if momentum_decay is None:
        return b1
    psi = hyper(momentum_decay, t.dtype)
    return b1 * (1 - 0.5 * jnp.exp(t * psi * jnp.log(hyper(0.96, t.dtype))))  # μ_t


def nesterov_coefficients(
    decay: Any,
    count: jax.Array,
    momentum_decay: Any = None,
    mu_prod: jax.Array | None = None,
    *,
    debias: bool = True,
) -> tuple[jax.Array, jax.Array]:
    r"""The weights (c_g, c_m) of Dozat's look-ahead out = c_g·g + c_m·m (:func:`look_ahead`),
    with m the EWMA already updated with g.

    $$ c_g = \frac{1-\mu_t}{1-\Pi_t}, \qquad c_m = \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}} $$

    With a constant μ = β₁ (``momentum_decay=None``), Π_t = β₁ᵗ and the two denominators
    are 1 − β₁ᵗ and 1 − β₁ᵗ⁺¹, taken from :func:`correction_factor`; with a schedule ψ,
    ``mu_prod`` = Π_t is required. ``debias=False`` gives c_g = 1 − μ_t, c_m = μ_{t+1}.

    Args:
        decay: β₁.
        count: steps before this one (t = count + 1).
        momentum_decay: ψ, or ``None`` for a constant μ_t = β₁.
        mu_prod: Π_t, this step's μ included (needed with a schedule and ``debias``).
        debias: divide by 1 − Π_t and 1 − Π_t μ_{t+1}.

    Returns:
        (c_g, c_m), scalars in the default float dtype.
    """
    dt = jnp.result_type(float)
    t = jnp.asarray(count).astype(dt) + 1
    mu = momentum_schedule(decay, momentum_decay, t)
    mu_next = momentum_schedule(decay, momentum_decay, t + 1)
    if not debias:
        return 1 - mu, mu_next  # (1−μ_t)·g + μ_{t+1}·m
    if momentum_decay is None:  # Π_t = β₁ᵗ
        den, den_next = correction_factor(decay, count), correction_factor(decay, count + 1)
    elif mu_prod is None:
        raise ValueError("nesterov_coefficients: a momentum schedule needs `mu_prod` = Π_t.")
    else:
        den, den_next = 1 - mu_prod, 1 - mu_prod * mu_next  # 1 − Π_t, 1 − Π_t·μ_{t+1}
    return (1 - mu) / den, mu_next / den_next  # (1−μ_t)/(1−Π_t), μ_{t+1}/(1−Π_t·μ_{t+1})


def look_ahead(g: jax.Array, m: jax.Array, coef_g: jax.Array, coef_m: jax.Array) -> jax.Array:
    """Dozat's Nesterov first moment of one array, c_g·g + c_m·m, in m's dtype; the
    weights from :func:`nesterov_coefficients`."""
    return coef_g.astype(m.dtype) * g.astype(m.dtype) + coef_m.astype(m.dtype) * m


class NesterovEma(Transform):
    r"""The first moment with Nesterov's look-ahead, bias-corrected (Dozat, 2016, "Incorporating
    Nesterov Momentum into Adam").

    $$ \mu_t = \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr), \quad
       \Pi_t = \Pi_{t-1}\mu_t, \quad
       m \leftarrow \beta_1 m + (1-\beta_1) g, $$
    $$ \text{out} = \frac{1-\mu_t}{1-\Pi_t}\, g
       + \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\, m $$

    NAdam is this times RMSProp's bias-corrected preconditioner 1/(√v̂ + ε).
    ψ = ``momentum_decay`` (0.004 in the paper and in PyTorch). With
    ``momentum_decay=None`` the schedule is constant, μ_t = β₁, which is
    Optax's ``nadam`` (Π_t = β₁ᵗ, and 1 − β₁ᵗ comes from :func:`correction_factor`).
    With ``debias=False`` the two corrections are left out,
    out = (1 − μ_t) g + μ_{t+1} m: for a constant μ this is the look-ahead of
    Jordan's Muon and ``torch.optim.Muon``, (1 − β₁) g + β₁ m. The weights are
    :func:`nesterov_coefficients`, which blocks that keep their own m (AdaBelief) share.

    Attributes:
        decay: β₁ in [0, 1).
        momentum_decay: ψ ≥ 0, or ``None`` for a constant μ_t = β₁.
        dtype: dtype of m (default: the parameter's).
        debias: static: divide by 1 − Π_t and 1 − Π_t μ_{t+1} (default) or not.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.nesterov_ema(0.9, momentum_decay=None)
        >>> g = jnp.array([1.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # (1−β₁)/(1−β₁) + β₁(1−β₁)/(1−β₁²)
        Array([1.473684], dtype=float32)
    """

    decay: Any = 0.9
    momentum_decay: Any = 4e-3
    dtype: Any = static(default=None)
    debias: bool = static(default=True)

    def __post_init__(self) -> None:
        check_range("nesterov_ema", "decay", self.decay, 0.0, 1.0, high_open=True)
        if self.momentum_decay is not None:
            check_range("nesterov_ema", "momentum_decay", self.momentum_decay, 0.0)

    def init_state(self, params: Params) -> NadamState:
        scheduled = self.momentum_decay is not None and self.debias  # Π_t is read
        mu_prod = jnp.ones([], jnp.result_type(float)) if scheduled else None
        return NadamState(m=zeros_like_tree(params, self.dtype), mu_prod=mu_prod)

    def step(
        self, updates: Updates, state: NadamState, params: Params | None, ctx: Context
    ) -> tuple[Updates, NadamState]:
        mu_prod = state.mu_prod
        if mu_prod is not None:  # Π_t = Π_{t−1}·μ_t
            t = ctx.count.astype(mu_prod.dtype) + 1
            mu_prod = mu_prod * momentum_schedule(self.decay, self.momentum_decay, t)
        m = ewma_step(state.m, updates, self.decay)  # m ← β₁·m + (1−β₁)·g
        coef_g, coef_m = nesterov_coefficients(
            self.decay, ctx.count, self.momentum_decay, mu_prod, debias=self.debias
        )
        out = elementwise(lambda g, m: look_ahead(g, m, coef_g, coef_m), updates, m)
        return out, NadamState(m=m, mu_prod=mu_prod)


trace = Trace
nesterov_ema = NesterovEma


class ScaleByLion(Transform):
    r"""Lion's update direction: the sign of an interpolated momentum (Chen et al., 2023,
    "Symbolic Discovery of Optimization Algorithms", arXiv:2302.06675, Algorithm 2).

    $$ c = \beta_1 m + (1-\beta_1) g, \qquad \text{out} = \operatorname{sign}(c), \qquad
       m \leftarrow \beta_2 m + (1-\beta_2) g $$

    Both lines are the one EWMA (:func:`ewma_step`): with β₁ it is read and not kept,
    with β₂ it is kept. Every coordinate moves by ±1 before the learning rate. For a
    complex entry, sign(c) = c/|c|.

    Attributes:
        b1: β₁ in [0, 1), the interpolation that gives the direction.
        b2: β₂ in [0, 1), the decay of the kept momentum m.
        dtype: dtype of m (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_lion()
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([ 1., -1.], dtype=float32)
    """

    b1: Any = 0.9
    b2: Any = 0.99
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("scale_by_lion", "b1", self.b1, 0.0, 1.0, high_open=True)
        check_range("scale_by_lion", "b2", self.b2, 0.0, 1.0, high_open=True)

    def init_state(self, params: Params) -> MState:
        return MState(m=zeros_like_tree(params, self.dtype))

    def step(
        self, updates: Updates, state: MState, params: Params | None, ctx: Context
    ) -> tuple[Updates, MState]:
        c = ewma_step(state.m, updates, self.b1)  # c = β₁·m + (1−β₁)·g
        out = elementwise(lambda g, c: jnp.sign(c), updates, c)  # sign(c), in g's dtype
        return out, MState(m=ewma_step(state.m, updates, self.b2))  # m ← β₂·m + (1−β₂)·g


scale_by_lion = ScaleByLion
