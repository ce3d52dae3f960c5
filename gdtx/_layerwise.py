r"""Blocks that rescale each parameter array (layer) as a whole: NovoGrad's per-layer
second moment and Fromage's norm-keeping learning-rate step.

Their per-array sums and their one-number-per-array state go through
:mod:`gdtx._layout` (``leaf_sums``, ``scale_leaves``, ``leaf_scalars``), so they run on
trees and on packed buffers alike.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype, hyper, static
from ._layout import leaf_scalars, leaf_sums, leaf_zeros, scalar_values, scale_leaves
from ._moments import ewma_step
from ._tree import abs_sq_leaf, safe_div
from ._validate import check_range


class LayerVState(NamedTuple):
    """State of :class:`ScaleByLayerwiseNorm`.

    Attributes:
        v: the running mean of ‖g‖², one number per parameter array (a tree of scalars,
            or for packed parameters a :class:`~gdtx.Packed` of one scalar per leaf).
    """

    v: Any


class ScaleByLayerwiseNorm(Transform):
    r"""Divides each array by the running root mean of its squared norm (NovoGrad's
    normalisation; Ginsburg et al., 2019, arXiv:1905.11286, Algorithm 1).

    $$ v_1 = \lVert g_1\rVert^2, \qquad
       v \leftarrow \beta_2 v + (1-\beta_2)\lVert g\rVert^2 \;(t > 1), \qquad
       \text{out} = \frac{g}{\sqrt{v + \varepsilon_{root}} + \varepsilon} $$

    per parameter array, ‖g‖² = Σ|gᵢ|² over the array. v starts at its first value (no
    bias correction), as in the paper; it is one real number per array, at least
    float32 by default: half of Adam's memory when followed by a momentum.

    Attributes:
        decay: β₂ in [0, 1).
        eps: ε ≥ 0, outside the root.
        eps_root: ε_root ≥ 0, inside the root.
        dtype: dtype of v (default: real, at least float32).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_layerwise_norm(eps=0.0)
        >>> g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([-2.0])}
        >>> out = tx.update(g, tx.init(g))[0]  # v₁ = ‖g₁‖²: g/‖g‖
        >>> out["a"], out["b"]
        (Array([0.6, 0.8], dtype=float32), Array([-1.], dtype=float32))
    """

    decay: Any = 0.25
    eps: Any = 1e-6
    eps_root: Any = 0.0
    dtype: Any = static(default=None)

    def __post_init__(self) -> None:
        owner = "scale_by_layerwise_norm"
        check_range(owner, "decay", self.decay, 0.0, 1.0, high_open=True)
        check_range(owner, "eps", self.eps, 0.0)
        check_range(owner, "eps_root", self.eps_root, 0.0)

    def init_state(self, params: Params) -> LayerVState:
        def real(dtype: Any) -> Any:
            return self.dtype or jnp.finfo(compute_dtype(dtype)).dtype

        return LayerVState(v=leaf_scalars(params, leaf_zeros(params, real)))

    def step(
        self, updates: Updates, state: LayerVState, params: Params | None, ctx: Context
    ) -> tuple[Updates, LayerVState]:
        # β = 0 at the first step: v₁ = ‖g₁‖²
        beta = jnp.where(ctx.count == 0, 0.0, jnp.asarray(self.decay, jnp.result_type(float)))
        v = ewma_step(scalar_values(state.v), leaf_sums(updates, abs_sq_leaf), beta)

        def factor(v: jax.Array) -> jax.Array:  # 1/(√(v + ε_root) + ε)
            ct = compute_dtype(v.dtype)
            den = jnp.sqrt(v.astype(ct) + hyper(self.eps_root, ct)) + hyper(self.eps, ct)
            return safe_div(jnp.ones_like(den), den)

        out = scale_leaves(updates, jax.tree.map(factor, v))
        return out, LayerVState(v=leaf_scalars(updates, v))


scale_by_layerwise_norm = ScaleByLayerwiseNorm
