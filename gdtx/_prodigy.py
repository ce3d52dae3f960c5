r"""Prodigy (Mishchenko & Defazio, 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free
Learner", arXiv:2306.06101): Adam whose step size d is estimated from the distance
travelled."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, hyper, static
from ._combine import Chain
from ._moments import correction_factor, ewma_step
from ._optim import ScalarOrSchedule, lr_block, sign
from ._rms import inverse_root_leaf
from ._schedules import schedule_or_checked, value_at
from ._tree import (
    abs_sq,
    check_real,
    copy_like_tree,
    elementwise,
    tree_sum,
    v_zeros_like_tree,
    zeros_like_tree,
)
from ._validate import check_params, check_range


class ProdigyState(NamedTuple):
    """State of :class:`ScaleByProdigy`.

    Attributes:
        m: EWMA of d·g.
        v: EWMA of d²·g² (real, at least float32).
        s: the weighted sum of d-scaled gradients (at least float32).
        x0: the initial parameters x₀.
        d: the step-size estimate (scalar).
        r: the weighted sum of ⟨g, x₀ − x⟩ (scalar).
    """

    m: Any
    v: Any
    s: Any
    x0: Any
    d: jax.Array
    r: jax.Array


class ScaleByProdigy(Transform):
    r"""Prodigy's Adam direction with its distance estimate d (Mishchenko & Defazio, 2023,
    Algorithm 3, in the form of the authors' code and Optax's ``contrib.prodigy``).

    With α_t the learning rate (1 at its base value), the bias correction
    b = √(1 − β₂ᵗ)/(1 − β₁ᵗ), and η = α_t·d·b:

    $$ m \leftarrow \beta_1 m + (1-\beta_1)\, d\,g, \qquad
       v \leftarrow \beta_2 v + (1-\beta_2)\, d^2 g^2, $$
    $$ r \leftarrow \beta_3 r + \tfrac{d}{d_0}\,\eta\,\langle g, x_0 - x\rangle, \qquad
       s \leftarrow \beta_3 s + \tfrac{d}{d_0}\,\eta\, g, \qquad
       d \leftarrow \max\Bigl(d,\; c\,\frac{r}{\lVert s\rVert_1}\Bigr), $$
    $$ \text{out} = d\,b\,\Bigl(\frac{m}{\sqrt{v} + d'\varepsilon} + \lambda x\Bigr) $$

    where d is the estimate before this step's update and d' the one after it (as in the
    authors' code), ⟨·,·⟩ and ‖·‖₁ run over all parameters
    together, and the learning-rate block that follows multiplies by −α_t. With
    ``safeguard_warmup``, s takes d/d₀·d·g (no α_t·b). The paper's (1 − β₃) factor on r
    and s cancels in r/‖s‖₁, as does 1/d₀. ‖s‖₁ = 0 (no gradient yet) leaves d as it is.
    The quotient is the shared inverse root's (``inverse_root_leaf`` with ε = d'ε): where
    √v + d'ε = 0 (ε = 0 and no gradient yet) the step is 0.

    Attributes:
        learning_rate: α_t, a number or a schedule (weights r and s; the step itself is
            scaled by the learning-rate block).
        b1: β₁ in [0, 1).
        b2: β₂ in [0, 1).
        beta3: β₃ in [0, 1), or ``None`` for √β₂.
        eps: ε ≥ 0, multiplied by d.
        estim_lr0: d₀ > 0.
        estim_lr_coef: c > 0.
        weight_decay: λ ≥ 0, decoupled.
        safeguard_warmup: leave α_t·b out of s (static).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_prodigy(estim_lr0=1.0)
        >>> p = jnp.array([1.0, -1.0])
        >>> tx.update(jnp.array([0.5, -2.0]), tx.init(p), p)[0].round(5)  # d·b·m/√v, t = 1
        Array([ 1., -1.], dtype=float32)
    """

    learning_rate: Any = 1.0
    b1: Any = 0.9
    b2: Any = 0.999
    beta3: Any = None
    eps: Any = 1e-8
    estim_lr0: Any = 1e-6
    estim_lr_coef: Any = 1.0
    weight_decay: Any = 0.0
    safeguard_warmup: bool = static(default=False)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        owner = "scale_by_prodigy"
        lr = schedule_or_checked(owner, "learning_rate", self.learning_rate)
        object.__setattr__(self, "learning_rate", lr)
        check_range(owner, "b1", self.b1, 0.0, 1.0, high_open=True)
        check_range(owner, "b2", self.b2, 0.0, 1.0, high_open=True)
        if self.beta3 is not None:
            check_range(owner, "beta3", self.beta3, 0.0, 1.0, high_open=True)
        check_range(owner, "eps", self.eps, 0.0)
        check_range(owner, "estim_lr0", self.estim_lr0, 0.0, low_open=True)
        check_range(owner, "estim_lr_coef", self.estim_lr_coef, 0.0, low_open=True)
        check_range(owner, "weight_decay", self.weight_decay, 0.0)

    def init_state(self, params: Params) -> ProdigyState:
        check_real("scale_by_prodigy", params)  # d's estimate is an inner product
        f = jnp.result_type(float)
        x0 = copy_like_tree(params)
        return ProdigyState(
            m=zeros_like_tree(params),
            v=v_zeros_like_tree(params),
            s=v_zeros_like_tree(params),
            x0=x0,
            d=jnp.asarray(self.estim_lr0, f),
            r=jnp.zeros([], f),
        )

    def step(
        self, updates: Updates, state: ProdigyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, ProdigyState]:
        params = check_params("scale_by_prodigy", params)
        f = state.d.dtype
        alpha = hyper(value_at(self.learning_rate, ctx.count), f)  # α_t
        b2 = hyper(self.b2, f)
        b3 = jnp.sqrt(b2) if self.beta3 is None else hyper(self.beta3, f)  # β₃ = √β₂
        d, d0 = state.d, hyper(self.estim_lr0, f)
        b = jnp.sqrt(correction_factor(self.b2, ctx.count)) / correction_factor(
            self.b1, ctx.count
        )  # √(1 − β₂ᵗ)/(1 − β₁ᵗ)
        eta = alpha * d * b.astype(f)  # η = α_t·d·b

        dg = elementwise(lambda g: d.astype(g.dtype) * g, updates)  # d·g
        m = ewma_step(state.m, dg, self.b1)  # m ← β₁m + (1 − β₁)d·g
        v = ewma_step(state.v, abs_sq(dg), self.b2)  # v ← β₂v + (1 − β₂)d²g²
        fs = jnp.result_type(float)  # the sums' dtype: the default float, as r's and d's
        inner = tree_sum(lambda g, x0, x: g * (x0 - x), updates, state.x0, params, dtype=fs)
        weight = d * d / d0 if self.safeguard_warmup else eta * d / d0

        def s_step(s: jax.Array, g: jax.Array) -> jax.Array:
            return b3.astype(s.dtype) * s + weight.astype(s.dtype) * g  # s ← β₃s + w·g

        s = elementwise(s_step, state.s, updates)
        r = b3 * state.r + (d / d0) * eta * inner  # r ← β₃r + (d/d₀)η⟨g, x₀ − x⟩
        norm_s = tree_sum(jnp.abs, s, dtype=fs)  # ‖s‖₁
        estimate = jnp.where(norm_s == 0, d, hyper(self.estim_lr_coef, f) * r / norm_s)
        d_new = jnp.maximum(d, estimate)  # d ← max(d, c·r/‖s‖₁)

        eps = d_new * hyper(self.eps, f)  # d'ε

        def direction(m: jax.Array, v: jax.Array, x: jax.Array) -> jax.Array:
            ct = m.dtype
            step = inverse_root_leaf(v, eps, numerator=m)  # m/(√v + d'ε)
            return (d * b).astype(ct) * (step + hyper(self.weight_decay, ct) * x.astype(ct))

        out = elementwise(direction, m, v, params)
        return out, ProdigyState(m=m, v=v, s=s, x0=state.x0, d=d_new, r=r)


scale_by_prodigy = ScaleByProdigy


def prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    beta3: Any = None,
    eps: Any = 1e-8,
    estim_lr0: Any = 1e-6,
    estim_lr_coef: Any = 1.0,
    weight_decay: Any = 0.0,
    safeguard_warmup: bool = False,
    *,
    maximize: bool = False,
) -> Chain:
    """Prodigy (Mishchenko & Defazio, 2023, arXiv:2306.06101): Adam with a learned step size d.

    The chain: ``chain(scale_by_prodigy(α, β₁, β₂, β₃, ε, d₀, c, λ),
    scale_by_learning_rate(α))``; see :class:`ScaleByProdigy`. α is a multiplier on the
    estimated step size, 1 at its base (a schedule from 1 to 0 with a short warm-up is
    the paper's recommendation). Defaults are the paper's and Optax's ``contrib.prodigy``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        betas: (β₁, β₂), each in [0, 1).
        beta3: β₃ in [0, 1) for the estimate's sums, or ``None`` for √β₂.
        eps: ε ≥ 0, multiplied by d, outside the root.
        estim_lr0: d₀ > 0, the initial (under-)estimate.
        estim_lr_coef: c > 0, multiplies each estimate.
        weight_decay: λ ≥ 0, decoupled (AdamW's), scaled by α·d.
        safeguard_warmup: leave α out of the estimate's denominator (for warm-ups).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.prodigy()
        >>> params = jnp.array([1.0, -2.0])
        >>> state = opt.init(params)
        >>> for _ in range(40):
        ...     updates, state = opt.update(params, state, params)  # f = ‖x‖²/2
        ...     params = gdtx.apply_updates(params, updates)
        >>> round(float(state.inner[0].d), 2)  # d grew from 1e-6 to ‖x₀ − x*‖'s order
        0.69
    """
    if not (isinstance(betas, tuple | list) and len(betas) == 2):
        raise ValueError(f"prodigy: `betas` must be a pair (β₁, β₂), got {betas!r}.")
    b1, b2 = betas
    owner = "prodigy"
    check_range(owner, "betas[0]", b1, 0.0, 1.0, high_open=True)
    check_range(owner, "betas[1]", b2, 0.0, 1.0, high_open=True)
    if beta3 is not None:
        check_range(owner, "beta3", beta3, 0.0, 1.0, high_open=True)
    check_range(owner, "eps", eps, 0.0)
    check_range(owner, "estim_lr0", estim_lr0, 0.0, low_open=True)
    check_range(owner, "estim_lr_coef", estim_lr_coef, 0.0, low_open=True)
    check_range(owner, "weight_decay", weight_decay, 0.0)
    lr = lr_block(owner, learning_rate)
    core = ScaleByProdigy(
        lr.learning_rate,
        b1,
        b2,
        beta3,
        eps,
        estim_lr0,
        estim_lr_coef,
        weight_decay,
        safeguard_warmup,
    )
    return Chain((*sign(maximize), core, lr), owner)
