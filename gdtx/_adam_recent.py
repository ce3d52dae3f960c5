r"""Two recent rearrangements of Adam's pieces: ADOPT and AdEMAMix.

ADOPT normalises g by the *previous* second moment before the momentum, so the
momentum averages normalised gradients:

    chain(adopt_normalize(β₂, ε, clipping), Ema(β₁))

AdEMAMix adds a slow momentum to Adam's fast one, each from g, divided by Adam's root:

    fork(fork(ema(β₁), chain(Ema(β₃), scale_by_schedule(α)), combine=total),
         chain(ema(β₂, moment=2), inverse_root(ε, ε_root)))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._adam import check_adam_family, first_moment
from ._base import Context, Params, Transform, Updates, hyper, static
from ._combine import Chain, Fork, total
from ._moments import Ema, VState, ema, ewma_step, zero_at_first_step
from ._rms import InverseRoot
from ._scale import ScaleBySchedule
from ._tree import abs_sq, elementwise, safe_div, v_zeros_like_tree
from ._validate import check_range


def quarter_power(count: jax.Array) -> jax.Array:
    """ADOPT's clipping value c = count^¼ (Taniguchi et al., 2024, §3)."""
    return count**0.25


class AdoptNormalize(Transform):
    r"""ADOPT's normalisation by the previous second moment (Taniguchi et al., 2024, "ADOPT:
    Modified Adam Can Converge with Any β₂ with the Optimal Rate", arXiv:2411.02853,
    Algorithm 2).

    $$ \text{out} = \operatorname{clip}\Bigl(\frac{g}{\max(\sqrt v,\, \varepsilon)},\;
       c(t-1)\Bigr), \qquad v \leftarrow \beta_2 v + (1-\beta_2) |g|^2 \qquad (t > 1) $$

    and at t = 1 out = 0 and v ← |g|². v is read before it is updated: g is not
    divided by a moment that contains it, which is what lets ADOPT converge for any β₂.
    clip(x, c) limits |x| to c (for a complex x, its modulus). Without clipping, out is
    g/max(√v, ε).

    Attributes:
        decay: β₂ in [0, 1).
        eps: ε ≥ 0, the floor of √v.
        use_clipping: static: clip to c(t − 1).
        clip_value_fn: static: c, a function of the number of steps before this one
            (given as a float); default count^¼, the paper's.
        dtype: static: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.adopt_normalize(0.5, use_clipping=False)
        >>> s = tx.init(jnp.zeros(1))
        >>> out, s = tx.update(jnp.array([2.0]), s)  # v ← 4, out 0
        >>> tx.update(jnp.array([1.0]), s)[0]  # 1/√4
        Array([0.5], dtype=float32)
    """

    decay: Any = 0.9999
    eps: Any = 1e-6
    use_clipping: bool = static(default=True)
    clip_value_fn: Callable[[jax.Array], jax.Array] = static(default=quarter_power)
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_range("adopt_normalize", "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range("adopt_normalize", "eps", self.eps, 0.0)
        if not callable(self.clip_value_fn):
            raise TypeError(
                "adopt_normalize: `clip_value_fn` must be a function of the step count, got "
                f"{type(self.clip_value_fn).__name__}."
            )

    def init_state(self, params: Params) -> VState:
        return VState(v=v_zeros_like_tree(params, self.dtype))

    def step(
        self, updates: Updates, state: VState, params: Params | None, ctx: Context
    ) -> tuple[Updates, VState]:
        first = ctx.count == 0
        c = None
        if self.use_clipping:
            c = jnp.asarray(self.clip_value_fn(ctx.count.astype(jnp.result_type(float))))

        def normalize(g: jax.Array, v: jax.Array) -> jax.Array:
            # 0 where max(√v, ε) = 0 (ε = 0 and no gradient yet), as every root block does
            x = safe_div(g, jnp.maximum(jnp.sqrt(v), hyper(self.eps, v.dtype)))
            if c is not None:  # |x| ≤ c
                limit = c.astype(v.dtype)
                if jnp.iscomplexobj(x):
                    size = jnp.abs(x)
                    tiny = jnp.finfo(size.dtype).tiny
                    shrink = (limit / jnp.maximum(size, tiny)).astype(x.dtype)
                    x = jnp.where(size > limit, x * shrink, x)
                else:
                    x = jnp.clip(x, -limit, limit)
            return x * jnp.where(first, 0, 1).astype(x.dtype)  # out = 0·x at t = 1 (NaN stays)

        out = elementwise(normalize, updates, state.v)
        beta = zero_at_first_step(self.decay, ctx.count)  # β = 0 at the first step: v₁ = |g|²
        v = ewma_step(state.v, abs_sq(updates), beta)  # v ← β₂·v + (1−β₂)·|g|²
        return out, VState(v=v)


adopt_normalize = AdoptNormalize


def scale_by_adopt(
    b1: Any = 0.9,
    b2: Any = 0.9999,
    eps: Any = 1e-6,
    m_dtype: Any = None,
    *,
    nesterov: bool = False,
    use_clipping: bool = True,
    clip_value_fn: Callable[[jax.Array], jax.Array] = quarter_power,
    v_dtype: Any = None,
) -> Chain:
    r"""ADOPT's direction (Taniguchi et al., 2024, arXiv:2411.02853, Algorithm 2).

    $$ x = \operatorname{clip}\Bigl(\frac{g}{\max(\sqrt v, \varepsilon)}, c(t-1)\Bigr), \quad
       m \leftarrow \beta_1 m + (1-\beta_1) x, \quad \text{out} = m, \quad
       v \leftarrow \beta_2 v + (1-\beta_2) |g|^2 $$

    with out = 0 and v = |g|² at t = 1 (see :class:`AdoptNormalize`); no bias
    correction. With ``nesterov`` (Optax's), out = β₁m + (1 − β₁)x. The chain:
    ``chain(adopt_normalize(β₂, ε), Ema(β₁))``, or for Nesterov
    ``chain(adopt_normalize(β₂, ε), nesterov_ema(β₁, None, debias=False))``, Dozat's
    look-ahead without corrections (Muon's).

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1) (0.9999, the paper's).
        eps: ε ≥ 0, the floor of √v.
        m_dtype: dtype of m (default: the parameter's).
        nesterov: out = β₁m + (1 − β₁)x.
        use_clipping: clip x to c(t − 1).
        clip_value_fn: c, a function of the step count (t − 1); default count^¼.
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adopt(b2=0.5)
        >>> s = tx.init(jnp.zeros(1))
        >>> out, s = tx.update(jnp.array([2.0]), s)  # the first step only sets v
        >>> out, s = tx.update(jnp.array([1.0]), s)
        >>> out.round(6)  # (1 − β₁)·1/√4
        Array([0.05], dtype=float32)
    """
    check_range("scale_by_adopt", "b1", b1, 0.0, 1.0, high_open=True)
    check_range("scale_by_adopt", "b2", b2, 0.0, 1.0, high_open=True)
    check_range("scale_by_adopt", "eps", eps, 0.0)
    normalize = AdoptNormalize(b2, eps, use_clipping, clip_value_fn, v_dtype)
    return Chain((normalize, first_moment(b1, m_dtype, nesterov, debias=False)))


def check_ademamix(
    owner: str, b1: Any, b2: Any, b3: Any, alpha: Any, eps: Any, eps_root: Any
) -> None:
    """:func:`check_adam_family`'s checks, β₃ in [0, 1) and α ≥ 0 where they are constants
    (not schedules), named after ``owner``."""
    check_adam_family(owner, b1, b2, eps, eps_root)
    if not callable(b3):
        check_range(owner, "b3", b3, 0.0, 1.0, high_open=True)
    if not callable(alpha):
        check_range(owner, "alpha", alpha, 0.0)


def scale_by_ademamix(
    b1: Any = 0.9,
    b2: Any = 0.999,
    b3: Any = 0.9999,
    alpha: Any = 6.0,
    eps: Any = 1e-8,
    eps_root: Any = 0.0,
    m_dtype: Any = None,
    *,
    v_dtype: Any = None,
) -> Fork:
    r"""AdEMAMix's direction (Pagliardini, Ablin & Grangier, 2024, "The AdEMAMix Optimizer:
    Better, Faster, Older", arXiv:2409.03137, Algorithm 1).

    $$ m_1 \leftarrow \beta_1 m_1 + (1-\beta_1) g, \quad
       m_2 \leftarrow \beta_3 m_2 + (1-\beta_3) g, \quad
       v \leftarrow \beta_2 v + (1-\beta_2) |g|^2, $$
    $$ \text{out} = \frac{m_1 / (1-\beta_1^t) + \alpha\, m_2}
                        {\sqrt{v / (1-\beta_2^t) + \varepsilon_{root}} + \varepsilon} $$

    Adam's fast momentum m₁ plus α times a slow one m₂ (β₃ near 1, not bias-corrected),
    which keeps gradients from thousands of steps back. β₃ and α may be schedules of the
    step count (the paper warms both up over its T_α,β₃ steps); m₂ is an :class:`Ema`
    with a scheduled decay. The chain: ``fork(fork(ema(β₁), chain(Ema(β₃),
    scale_by_schedule(α)), combine=total), chain(ema(β₂, moment=2),
    inverse_root(ε, ε_root)))``. α = 6 is Optax's ``scale_by_ademamix`` default.

    Args:
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        b3: β₃ in [0, 1), or a schedule.
        alpha: α ≥ 0, or a schedule.
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        m_dtype: dtype of m₁ and m₂ (default: the parameter's).
        v_dtype: dtype of v (default: real, at least float32).

    Returns:
        The transformation.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_ademamix(b3=0.5, alpha=2.0)
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0]  # (1 + 2·0.5)·sign(g)
        Array([ 2., -2.], dtype=float32)
    """
    check_ademamix("scale_by_ademamix", b1, b2, b3, alpha, eps, eps_root)
    fast = first_moment(b1, m_dtype)
    slow = Chain((Ema(b3, dtype=m_dtype), ScaleBySchedule(alpha)))
    v_hat = ema(b2, moment=2, dtype=v_dtype)
    return Fork((Fork((fast, slow), total), Chain((v_hat, InverseRoot(eps, eps_root)))))
