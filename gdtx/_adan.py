r"""Adan's direction: Nesterov momentum estimated from gradient differences (Xie et al.,
2022), three EWMAs on the one :func:`~gdtx.ewma_step` and its bias corrections."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._adam import check_adam_family
from ._base import Context, Params, Transform, Updates, compute_dtype, hyper, static
from ._moments import correction_factor, ewma_step
from ._rms import inverse_root_leaf
from ._tree import abs_sq_leaf, tree_map_n, v_zeros_like_tree, zeros_like_tree
from ._validate import check_range


def check_adan(owner: str, b1: Any, b2: Any, b3: Any, eps: Any, eps_root: Any) -> None:
    """β₁, β₂, β₃ in [0, 1) and ε, ε_root ≥ 0, named after ``owner``."""
    check_adam_family(owner, b1, b2, eps, eps_root)
    check_range(owner, "b3", b3, 0.0, 1.0, high_open=True)


class AdanState(NamedTuple):
    """State of :class:`ScaleByAdan`.

    Attributes:
        m: EWMA of g.
        m_diff: EWMA of the gradient differences g − g_prev.
        v: EWMA of |g + β₂(g − g_prev)|² (the paper's n), real.
        g_prev: the previous gradient.
    """

    m: Any
    m_diff: Any
    v: Any
    g_prev: Any


class ScaleByAdan(Transform):
    r"""Adan's direction (Xie et al., 2022, "Adan: Adaptive Nesterov Momentum Algorithm for
    Faster Optimizing Deep Models", arXiv:2208.06677, Algorithm 1).

    $$ \Delta = g - g_{prev} \;(\Delta_1 = 0), \quad
       m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
       m_\Delta \leftarrow \beta_2 m_\Delta + (1-\beta_2)\Delta, $$
    $$ v \leftarrow \beta_3 v + (1-\beta_3)\,\lvert g + \beta_2 \Delta\rvert^2, \quad
       \text{out} = \frac{m/(1-\beta_1^t) + \beta_2\, m_\Delta/(1-\beta_2^t)}
                         {\sqrt{v/(1-\beta_3^t) + \varepsilon_{root}} + \varepsilon} $$

    The β here are the code's (the paper's are 1 − β: its β₁ = 0.02 is β₁ = 0.98 here),
    so the paper's weight 1 − β₂ on the difference is β₂. The bias corrections are those
    of the authors' implementation. Optax 0.2.8's ``scale_by_adan`` weighs the difference
    by 1 − β₂ instead; the two agree at β₂ = 0.5 only.

    Attributes:
        b1: β₁ in [0, 1), decay of the EWMA of g.
        b2: β₂ in [0, 1), decay of the EWMA of the differences and their weight.
        b3: β₃ in [0, 1), decay of the second moment.
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        dtype: dtype of m, m_diff and g_prev (default: the parameter's); v is real, at
            least float32.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_adan(eps=0.0)
        >>> g = jnp.array([0.5, -2.0])
        >>> tx.update(g, tx.init(g))[0].round(6)  # the first step is sign(g), as Adam's
        Array([ 1., -1.], dtype=float32)
    """

    b1: Any = 0.98
    b2: Any = 0.92
    b3: Any = 0.99
    eps: Any = 1e-8
    eps_root: Any = 0.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        check_adan("scale_by_adan", self.b1, self.b2, self.b3, self.eps, self.eps_root)

    def init_state(self, params: Params) -> AdanState:
        return AdanState(
            m=zeros_like_tree(params, self.dtype),
            m_diff=zeros_like_tree(params, self.dtype),
            v=v_zeros_like_tree(params),
            g_prev=zeros_like_tree(params, self.dtype),
        )

    def step(
        self, updates: Updates, state: AdanState, params: Params | None, ctx: Context
    ) -> tuple[Updates, AdanState]:
        first = ctx.count == 0
        c1, c2, c3 = (correction_factor(b, ctx.count) for b in (self.b1, self.b2, self.b3))

        def leaf(g: jax.Array, m: Any, m_diff: Any, v: Any, g_prev: Any) -> tuple[Any, ...]:
            ct = compute_dtype(g.dtype)
            gc = g.astype(ct)
            b2 = hyper(self.b2, ct)
            diff = jnp.where(first, jnp.zeros_like(gc), gc - g_prev.astype(ct))  # g − g_prev
            m = ewma_step(m, gc, self.b1)  # m ← β₁·m + (1−β₁)·g
            m_diff = ewma_step(m_diff, diff, self.b2)  # m_Δ ← β₂·m_Δ + (1−β₂)·Δ
            v = ewma_step(v, abs_sq_leaf(gc + b2 * diff), self.b3)  # v ← β₃·v + (1−β₃)|·|²
            num = m.astype(ct) / c1.astype(ct) + b2 * m_diff.astype(ct) / c2.astype(ct)
            v_hat = v / c3.astype(v.dtype)  # v̂ = v/(1−β₃ᵗ)
            out = inverse_root_leaf(v_hat, self.eps, self.eps_root, numerator=num)
            return out.astype(g.dtype), m, m_diff, v, g.astype(g_prev.dtype)

        out, m, m_diff, v, g_prev = tree_map_n(
            leaf, 5, updates, state.m, state.m_diff, state.v, state.g_prev
        )
        return out, AdanState(m=m, m_diff=m_diff, v=v, g_prev=g_prev)


scale_by_adan = ScaleByAdan
