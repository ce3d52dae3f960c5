r"""Optimism: steps that extrapolate with the previous update (Daskalakis, Ilyas, Syrgkanis &
Zeng, 2018, "Training GANs with Optimism", arXiv:1711.00141).

Optimistic gradient descent steps along 2g_t − g_{t−1}, an approximation of the extragradient
method that converges in the last iterate on bilinear min-max games, where plain gradient
descent cycles. Optimistic Adam applies the same extrapolation to Adam's direction.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._adam import check_adam_family, scale_by_adam, scale_by_nadam
from ._base import Context, Params, Transform, Updates, hyper, static
from ._combine import Chain
from ._optim import ScalarOrSchedule, optimizer_chain
from ._tree import elementwise, map_leaves, zeros_like_tree
from ._validate import check_range


class OptimisticState(NamedTuple):
    """State of :class:`ScaleByOptimisticGradient`.

    Attributes:
        g_prev: the previous step's incoming update g_{t−1}, one array per parameter.
    """

    g_prev: Any


class ScaleByOptimisticGradient(Transform):
    r"""The generalised optimistic step (Mokhtari, Ozdaglar & Pattathil, 2020,
    arXiv:1901.08511; Daskalakis et al., 2018, with α = β = 1).

    $$ \text{out} = (\alpha + \beta)\, g_t - \beta\, g_{t-1}, \qquad g_0 = g_1 $$

    so the first step is α·g. β is the weight of the negative momentum; α = β = 1 gives
    optimistic gradient descent's 2g_t − g_{t−1}. The state field ``g_prev`` holds
    g_{t−1}. Optax's ``scale_by_optimistic_gradient``.

    Attributes:
        alpha: α ≥ 0.
        beta: β ≥ 0.
        dtype: dtype of g_prev (default: the parameter's).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_optimistic_gradient()
        >>> s = tx.init(jnp.zeros(1))
        >>> out, s = tx.update(jnp.array([1.0]), s)  # the first step: g
        >>> tx.update(jnp.array([3.0]), s)[0]  # 2·3 − 1
        Array([5.], dtype=float32)
    """

    alpha: Any = 1.0
    beta: Any = 1.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("scale_by_optimistic_gradient", "alpha", self.alpha, 0.0)
        check_range("scale_by_optimistic_gradient", "beta", self.beta, 0.0)

    def init_state(self, params: Params) -> OptimisticState:
        return OptimisticState(g_prev=zeros_like_tree(params, self.dtype))

    def step(
        self, updates: Updates, state: OptimisticState, params: Params | None, ctx: Context
    ) -> tuple[Updates, OptimisticState]:
        first = ctx.count == 0

        def leaf(g: jax.Array, g_prev: jax.Array) -> jax.Array:
            a, b = hyper(self.alpha, g.dtype), hyper(self.beta, g.dtype)
            g_prev = jnp.where(first, g, g_prev)  # g₀ = g₁
            return (a + b) * g - b * g_prev  # (α+β)·g_t − β·g_{t−1}

        out = elementwise(leaf, updates, state.g_prev)
        g_prev = map_leaves(lambda g, old: g.astype(old.dtype), updates, state.g_prev)
        return out, OptimisticState(g_prev=g_prev)


scale_by_optimistic_gradient = ScaleByOptimisticGradient


def optimistic_gradient_descent(
    learning_rate: ScalarOrSchedule,
    alpha: Any = 1.0,
    beta: Any = 1.0,
    *,
    maximize: bool = False,
) -> Chain:
    """Optimistic gradient descent (Daskalakis et al., 2018, arXiv:1711.00141, eq. 4):
    θ ← θ − η((α + β)g_t − βg_{t−1}), with α = β = 1 the paper's θ ← θ − 2ηg_t + ηg_{t−1}.

    The chain: ``chain(scale_by_optimistic_gradient(α, β), scale_by_learning_rate(η))``.
    The first step, which has no g₀, is the plain step θ ← θ − ηαg₁ (as Optax). Arguments
    and defaults as Optax's ``optimistic_gradient_descent`` (α and β are numbers here).

    Args:
        learning_rate: η ≥ 0, a number or a schedule.
        alpha: α ≥ 0.
        beta: β ≥ 0, the weight of the negative momentum.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.optimistic_gradient_descent(0.1)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> _, state = opt.update(jnp.array([1.0]), state)
        >>> opt.update(jnp.array([2.0]), state)[0]  # −0.1·(2·2 − 1)
        Array([-0.3], dtype=float32)
    """
    owner = "optimistic_gradient_descent"
    check_range(owner, "alpha", alpha, 0.0)
    check_range(owner, "beta", beta, 0.0)
    core = ScaleByOptimisticGradient(alpha, beta)
    return optimizer_chain(owner, learning_rate, maximize, core)


def optimistic_adam(
    learning_rate: ScalarOrSchedule,
    optimism: Any = None,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    m_dtype: Any = None,
    *,
    nesterov: bool = False,
    maximize: bool = False,
) -> Chain:
    """Optimistic Adam (Daskalakis et al., 2018, arXiv:1711.00141, Algorithm 1).

    With Adam's direction r_t = m̂_t / (√(v̂_t + ε_root) + ε):
    θ ← θ − (α + o)·r_t + o·r_{t−1}, where the optimism o defaults to α, the paper's
    θ ← θ − 2α·r_t + α·r_{t−1}. The first step is θ ← θ − α·r₁ (as Optax).

    The chain: ``chain(scale_by_adam(β₁, β₂, ε, ε_root),
    scale_by_optimistic_gradient(1, o/α), scale_by_learning_rate(α))``. With ``optimism``
    left ``None`` the optimistic block is (1, 1) and α may be a schedule; an explicit
    ``optimism`` needs a constant α > 0. ``nesterov=True`` takes Adam's Nesterov direction
    (Dozat's constant-μ form, :func:`scale_by_nadam` with ``momentum_decay=None``), which
    Optax's ``optimistic_adam`` uses by default; the paper's (and this default) is plain
    Adam. Argument names as Optax's (``mu_dtype`` there is ``m_dtype`` here).

    Args:
        learning_rate: α ≥ 0, a number or (without ``optimism``) a schedule.
        optimism: o ≥ 0, or ``None`` for o = α.
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε ≥ 0 inside the root.
        m_dtype: dtype of m (default: the parameter's).
        nesterov: use Adam's Nesterov direction.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.optimistic_adam(0.1)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> _, state = opt.update(jnp.array([2.0]), state)  # r₁ = 1: −0.1
        >>> opt.update(jnp.array([2.0]), state)[0].round(6)  # r₂ = 1: −0.1·(2 − 1)
        Array([-0.1], dtype=float32)
    """
    owner = "optimistic_adam"
    check_adam_family(owner, b1, b2, eps, eps_root)
    if optimism is None:
        relative: Any = 1.0
    else:
        check_range(owner, "optimism", optimism, 0.0)
        if callable(learning_rate):
            raise ValueError(
                f"{owner}: an explicit `optimism` needs a constant `learning_rate`, got a "
                "schedule; leave `optimism` None (o = α) to use a schedule."
            )
        check_range(owner, "learning_rate", learning_rate, 0.0, low_open=True)
        relative = optimism / learning_rate  # o/α
    if nesterov:  # Dozat's first moment with a constant μ = β₁: NAdam's direction
        direction = scale_by_nadam(b1, b2, eps, None, eps_root=eps_root, m_dtype=m_dtype)
    else:
        direction = scale_by_adam(b1, b2, eps, eps_root, m_dtype=m_dtype)
    core = ScaleByOptimisticGradient(1.0, relative)
    return optimizer_chain(owner, learning_rate, maximize, direction, core)
