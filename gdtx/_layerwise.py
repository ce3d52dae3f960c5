r"""Blocks that rescale each parameter array (layer) as a whole: NovoGrad's per-layer
second moment and Fromage's norm-keeping learning-rate step.

Their per-array sums and their one-number-per-array state go through
:mod:`gdtx._layout` (``leaf_sums``, ``scale_leaves``, ``leaf_scalars``), so they run on
trees and on packed buffers alike.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import (
    Context,
    EmptyState,
    Params,
    Transform,
    Updates,
    compute_dtype,
    hyper,
    static,
)
from ._layout import leaf_scalars, leaf_sums, leaf_zeros, scalar_values, scale_leaves
from ._moments import ewma_step, zero_at_first_step
from ._rms import inverse_root_leaf
from ._scale import ScaleByLearningRate
from ._tree import abs_sq_leaf, elementwise
from ._validate import check_params, check_range


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
        beta = zero_at_first_step(self.decay, ctx.count)  # β = 0 at the first step: v₁ = ‖g₁‖²
        v = ewma_step(scalar_values(state.v), leaf_sums(updates, abs_sq_leaf), beta)

        def factor(v: jax.Array) -> jax.Array:  # 1/(√(v + ε_root) + ε)
            return inverse_root_leaf(v.astype(compute_dtype(v.dtype)), self.eps, self.eps_root)

        out = scale_leaves(updates, jax.tree.map(factor, v))
        return out, LayerVState(v=leaf_scalars(updates, v))


scale_by_layerwise_norm = ScaleByLayerwiseNorm


class FromageLearningRate(ScaleByLearningRate):
    r"""Fromage's learning-rate step: the descent step, then the weights shrunk by
    1/√(1 + α²) (Bernstein et al., 2020, "On the distance between two neural networks and
    the stability of learning", arXiv:2002.03432, Algorithm 1).

    $$ \theta_{new} = \frac{\theta - \alpha_t g}{\sqrt{1+\alpha_t^2}}, \qquad
       \text{out} = \theta_{new} - \theta
       = -\frac{\alpha_t}{\sqrt{1+\alpha_t^2}}\, g - \kappa_t\, \theta, \qquad
       \kappa_t = 1 - \frac{1}{\sqrt{1+\alpha_t^2}}
       = \frac{\alpha_t^2}{\sqrt{1+\alpha_t^2}\,\bigl(1+\sqrt{1+\alpha_t^2}\bigr)} $$

    with α_t = schedule(t − 1). κ is formed by the last expression, which does not
    cancel in float32 when α is small (1 − 1/√(1 + α²) loses half its digits at
    α = 0.01). When g is orthogonal to θ the step keeps ‖θ‖ unchanged. It is the one
    learning-rate block of ``fromage`` (``current_learning_rate`` reads α from it).

    Attributes:
        learning_rate: α ≥ 0, or a schedule.
        flip_sign: descend (θ − αg) rather than ascend (θ + αg).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.fromage_learning_rate(1.0)
        >>> p, g = jnp.array([1.0, 0.0]), jnp.array([0.0, -1.0])
        >>> (p + tx.update(g, tx.init(p), p)[0]).round(4)  # (θ − g)/√2: on the unit circle
        Array([0.7071, 0.7071], dtype=float32)
    """

    reads_params: ClassVar[bool] = True

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        params = check_params("fromage_learning_rate", params)
        alpha = self.rate_at(ctx.count)
        alpha = alpha.astype(compute_dtype(alpha.dtype))
        root = jnp.sqrt(1 + alpha * alpha)  # √(1+α²)
        step = (-alpha if self.flip_sign else alpha) / root  # ∓α/√(1+α²)
        kappa = alpha * alpha / (root * (1 + root))  # 1 − 1/√(1+α²), without cancellation

        def leaf(g: jax.Array, p: jax.Array) -> jax.Array:
            return hyper(step, g.dtype) * g - hyper(kappa, g.dtype) * p.astype(g.dtype)

        return elementwise(leaf, updates, params), state


fromage_learning_rate = FromageLearningRate
