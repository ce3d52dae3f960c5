r"""Adafactor (Shazeer & Stern, 2018): factored second moments, update clipping and the
relative step size, as a chain of shared blocks."""

from __future__ import annotations

import sys
from typing import Any

import jax
import jax.numpy as jnp

from ._base import Transform
from ._clipping import ScaleByParamBlockRms
from ._combine import Chain
from ._factored import ScaleByFactoredRms
from ._moments import ema
from ._optim import sign
from ._scale import AddDecayedWeights, ClipByBlockRms, Scale, ScaleByLearningRate
from ._schedules import Schedule, as_count, as_float, as_schedule
from ._validate import check_range


class AdafactorDecay(Schedule):
    r"""Adafactor's second-moment decay β₂_t = 1 − t^(−c) (Shazeer & Stern, 2018, §7.2).

    $$ \beta_{2,t} = 1 - (t - t_0)^{-c}, \qquad t = \text{count} + 1 $$

    β₂ is 0 on the first step (t − t₀ = 1), so the estimate needs no bias correction,
    and it rises towards 1. t₀ = ``decay_offset`` restarts the schedule for fine-tuning,
    as Optax's ``decay_offset``; c = 0.8 is the paper's (torch's ``beta2_decay=-0.8``).

    Attributes:
        decay_rate: c > 0.
        decay_offset: t₀, the step the schedule starts from.

    Example:
        >>> import gdtx
        >>> s = gdtx.AdafactorDecay(0.8)
        >>> [round(float(s(k)), 4) for k in (0, 1, 9)]  # t = 1, 2, 10
        [0.0, 0.4257, 0.8415]
    """

    decay_rate: Any = 0.8
    decay_offset: Any = 0

    def __post_init__(self) -> None:
        check_range("adafactor", "decay_rate", self.decay_rate, 0.0, low_open=True)

    def __call__(self, count: Any) -> jax.Array:
        t = as_count(count) - as_float(self.decay_offset) + 1  # t − t₀, from 1
        return 1 - t ** -as_float(self.decay_rate)


class RelativeStepSize(Schedule):
    r"""The paper's relative step size ρ_t = min(α, 1/√t) (Shazeer & Stern, 2018, §8).

    $$ \rho_t = \min\!\bigl(\alpha_t, \tfrac{1}{\sqrt t}\bigr), \qquad t = \text{count} + 1 $$

    α = 1e-2 in the paper; ``torch.optim.Adafactor``'s ``lr`` is α. ``learning_rate``
    may itself be a schedule.

    Attributes:
        learning_rate: α, a number or a schedule.

    Example:
        >>> import gdtx
        >>> s = gdtx.RelativeStepSize(0.1)
        >>> [round(float(s(k)), 4) for k in (0, 99, 399)]  # min(0.1, 1/√t)
        [0.1, 0.1, 0.05]
    """

    learning_rate: Any

    def __post_init__(self) -> None:
        if callable(self.learning_rate) and not isinstance(self.learning_rate, Schedule):
            object.__setattr__(self, "learning_rate", as_schedule(self.learning_rate))

    def __call__(self, count: Any) -> jax.Array:
        alpha = as_schedule(self.learning_rate)(count)
        return jnp.minimum(as_float(alpha), jax.lax.rsqrt(as_count(count) + 1))


def adafactor(
    learning_rate: Any = None,
    min_dim_size_to_factor: int = 128,
    decay_rate: Any = 0.8,
    decay_offset: Any = 0,
    multiply_by_parameter_scale: bool = True,
    clipping_threshold: Any = 1.0,
    momentum: Any = None,
    dtype_momentum: Any = None,
    weight_decay_rate: Any = None,
    eps: Any = 1e-30,
    factored: bool = True,
    weight_decay_mask: Any = None,
    *,
    relative_step: bool = False,
    clamp_eps: bool = False,
    eps_scale: Any = 1e-3,
    maximize: bool = False,
) -> Chain:
    r"""Adafactor (Shazeer & Stern, 2018, arXiv:1804.04235, Algorithm 4 and §8).

    $$ U = \frac{g}{\sqrt{\hat V}}, \qquad
       \hat U = \frac{U}{\max(1, \operatorname{rms}(U)/d)}, \qquad
       \theta \leftarrow \theta - \alpha_t\,\max(\varepsilon_2, \operatorname{rms}(\theta))\,
       \hat U - \lambda\theta $$

    with V̂ the factored second moment of :class:`ScaleByFactoredRms` under β₂_t =
    1 − t^(−c) (:class:`AdafactorDecay`), per matrix (the last two dimensions of a leaf
    whose both are ≥ ``min_dim_size_to_factor``) and in full elsewhere. The chain,
    Optax's: ``chain(scale_by_factored_rms(AdafactorDecay(c, t₀), ε₁),
    clip_by_block_rms(d), scale_by_learning_rate(α, flip_sign=False),
    scale_by_param_block_rms(ε₂), [ema(μ, debias=False)], [add_decayed_weights(λ,
    mask)], scale(-1))``; each bracket only with its argument. Packed
    (``gdtx.packing``), the row and column statistics of a run of equal-shape matrices
    are one reduction.

    The defaults are Optax's (``learning_rate=None``: α = 1, the parameter scale alone).
    The paper's relative step size α_t = min(1e-2, 1/√t) is ``adafactor(1e-2,
    relative_step=True)``. ``torch.optim.Adafactor(lr, beta2_decay=-c, eps=(ε₁, ε₂), d,
    weight_decay=λ', maximize)`` is ``adafactor(lr, min_dim_size_to_factor=1,
    decay_rate=c, clipping_threshold=d, weight_decay_rate=lr·λ', eps=ε₁,
    relative_step=True, clamp_eps=True, eps_scale=ε₂, maximize=maximize)``, where
    torch's ε₁ = None is the parameter dtype's machine epsilon (1.1920929e-07 for
    float32). Optax factors the two largest dimensions of a leaf, gdtx the last two
    (the same for matrices).

    Args:
        learning_rate: α ≥ 0, a number or a schedule, or ``None`` (α = 1).
        min_dim_size_to_factor: factor a leaf only if its last two dimensions are both
            at least this.
        decay_rate: c > 0 of β₂_t = 1 − (t − t₀)^(−c).
        decay_offset: t₀.
        multiply_by_parameter_scale: scale by max(ε₂, rms(θ)) per array.
        clipping_threshold: d ≥ 1 of the update clipping, or ``None``.
        momentum: μ in [0, 1) of an EWMA of the clipped updates, or ``None``.
        dtype_momentum: its dtype (default: the parameter's, as every gdtx momentum;
            Optax's is float32).
        weight_decay_rate: λ ≥ 0, subtracted as λθ after the learning rate (not
            multiplied by it), or ``None``.
        eps: ε₁ ≥ 0, added to g² (or its floor, with ``clamp_eps``).
        factored: factor the second moments at all.
        weight_decay_mask: which leaves decay (a tree of bools or a function of the
            parameters; ``None``: all).
        relative_step: use α_t = min(α, 1/√t) (needs ``learning_rate``).
        clamp_eps: ε₁ as a floor of the denominators, as torch (see
            :class:`ScaleByFactoredRms`).
        eps_scale: ε₂ ≥ 0, the smallest parameter scale.
        maximize: ascend instead of descend: g ← −g first.

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.adafactor(0.1, min_dim_size_to_factor=2)
        >>> params = {"w": jnp.full((2, 2), 2.0), "b": jnp.zeros(2)}
        >>> g = {"w": jnp.array([[1.0, -1.0], [4.0, 4.0]]), "b": jnp.array([3.0, -0.5])}
        >>> updates, state = opt.update(g, opt.init(params), params)
        >>> updates["w"]  # −α·rms(θ)·g/√V̂ (β₂ = 0 on the first step: V̂ = G²)
        Array([[-0.2,  0.2],
               [-0.2, -0.2]], dtype=float32)
        >>> updates["b"] / 1e-4  # zero parameters: −α·ε₂·g/|g|
        Array([-1.,  1.], dtype=float32)
    """
    check_range("adafactor", "decay_offset", decay_offset, 0.0)
    check_range("adafactor", "eps", eps, 0.0)
    check_range("adafactor", "eps_scale", eps_scale, 0.0)
    if not isinstance(min_dim_size_to_factor, int) or min_dim_size_to_factor < 0:
        raise ValueError(
            "adafactor: `min_dim_size_to_factor` must be an int >= 0, got "
            f"{min_dim_size_to_factor!r}."
        )
    # factored=False: no leaf has dimensions this large.
    min_dim = min_dim_size_to_factor if factored else sys.maxsize
    blocks: list[Transform] = [
        *sign(maximize),
        ScaleByFactoredRms(
            AdafactorDecay(decay_rate, decay_offset), eps, min_dim, clamp_eps=clamp_eps
        ),
    ]
    if clipping_threshold is not None:
        check_range("adafactor", "clipping_threshold", clipping_threshold, 1.0)
        blocks.append(ClipByBlockRms(clipping_threshold))
    if learning_rate is not None:
        if not callable(learning_rate):
            check_range("adafactor", "learning_rate", learning_rate, 0.0)
        rate = RelativeStepSize(learning_rate) if relative_step else learning_rate
        blocks.append(ScaleByLearningRate(rate, flip_sign=False))
    elif relative_step:
        raise ValueError("adafactor: `relative_step=True` needs a `learning_rate` (α).")
    if multiply_by_parameter_scale:
        blocks.append(ScaleByParamBlockRms(eps_scale))
    if momentum is not None:
        check_range("adafactor", "momentum", momentum, 0.0, 1.0, high_open=True)
        blocks.append(ema(momentum, debias=False, dtype=dtype_momentum))
    if weight_decay_rate is not None:
        check_range("adafactor", "weight_decay_rate", weight_decay_rate, 0.0)
        blocks.append(AddDecayedWeights(weight_decay_rate, weight_decay_mask))
    blocks.append(Scale(-1.0))
    return Chain(tuple(blocks), "adafactor")
