r"""Adafactor's factored second moment: per-matrix row and column statistics.

Written once against :func:`~gdtx.map_matrices`, it runs per-leaf and on packed
buffers, where a run of equal-shape matrices is one reshape and one call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype, hyper, static
from ._matrix import Shape, map_matrices, shape_keys
from ._moments import ewma_step
from ._rms import inverse_root_leaf
from ._schedules import schedule_or_checked, value_at
from ._tree import abs_sq_leaf, safe_div, zeros
from ._validate import check_range


class FactoredState(NamedTuple):
    """State of :class:`ScaleByFactoredRms`: per-leaf trees with ``None`` at the leaves a
    field does not cover (or, for packed parameters, :class:`~gdtx.Packed` values).

    Attributes:
        v_row: R, the EWMA of the row means of g² + ε₁, shape ``(..., r)``, for each
            factored leaf of shape ``(..., r, c)``.
        v_col: C, the EWMA of the column means, shape ``(..., c)``.
        v: the EWMA of g² + ε₁ itself, for each leaf that is not factored.
    """

    v_row: Any
    v_col: Any
    v: Any


class ScaleByFactoredRms(Transform):
    r"""Adafactor's factored second moment (Shazeer & Stern, 2018, arXiv:1804.04235).

    For each matrix G (r × c) of a leaf of shape ``(..., r, c)`` whose last two
    dimensions are both at least ``min_dim_size_to_factor`` (leading dimensions are
    a stack of matrices, factored one by one), the second moment is kept as a row
    vector R and a column vector C (Algorithm 4, without the relative step size and
    the update clipping):

    $$ R \leftarrow \beta_2 R + (1-\beta_2)\,\operatorname{rowmean}(G^2 + \varepsilon_1),
       \qquad
       C \leftarrow \beta_2 C + (1-\beta_2)\,\operatorname{colmean}(G^2 + \varepsilon_1), $$
    $$ \hat V = \frac{R\,C^\top}{\operatorname{mean}(R)}, \qquad
       \text{out} = \frac{G}{\sqrt{\hat V}} $$

    (the paper's row and column sums give the same V̂). Every other leaf keeps the
    full second moment:

    $$ v \leftarrow \beta_2 v + (1-\beta_2)(g^2 + \varepsilon_1), \qquad
       \text{out} = \frac{g}{\sqrt{v}} $$

    Memory is r + c numbers per matrix instead of r·c. With a constant β₂ the
    moments start at 0 and are not bias-corrected; ``decay`` may also be a schedule
    of the step, β₂_t (Adafactor's 1 − t^(−0.8), whose first value 0 needs no
    correction). With ``clamp_eps`` (``torch.optim.Adafactor``'s ε₁) nothing is added
    to g²; ε bounds the denominators instead: V̂ = R Cᵀ / max(mean(R), ε) and out =
    g / √max(V̂, ε²) (likewise g / √max(v, ε²)). The state (:class:`FactoredState`)
    is real, at least float32; in packed form, the statistics of a run of matrices of
    one shape are stored together, and ``Packing.pack_state`` and
    ``Packing.unpack_state`` convert them. ``gdtx.packing(params, opt)`` gives the
    factored matrices of each shape a buffer of their own (:meth:`packing_keys`).

    Attributes:
        decay: β₂ in [0, 1), or a schedule: a function of the step count.
        eps: ε₁ ≥ 0, added to g² (the paper's 1e-30).
        min_dim_size_to_factor: static: a leaf is factored only if both its last two
            dimensions are at least this (``1`` factors every matrix, as torch does;
            Optax factors the two largest dimensions of a leaf, here the last two).
        clamp_eps: static: ε as a floor of the denominators (torch) rather than
            added to g² (the paper, Optax).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_factored_rms(decay=0.5, min_dim_size_to_factor=2)
        >>> g = {"w": jnp.array([[1.0, 1.0], [2.0, 2.0]]), "b": jnp.array([3.0])}
        >>> state = tx.init(g)
        >>> state.inner.v_row["w"], state.inner.v["b"]
        (Array([0., 0.], dtype=float32), Array([0.], dtype=float32))
        >>> out, state = tx.update(g, state)
        >>> out["w"].round(4)  # V̂ = R Cᵀ / mean(R) = (1 − β₂) G²: out = G / √(0.5 G²)
        Array([[1.4142, 1.4142],
               [1.4142, 1.4142]], dtype=float32)
    """

    decay: Any = 0.999
    eps: Any = 1e-30
    min_dim_size_to_factor: int = static(default=128)
    clamp_eps: bool = static(default=False)

    def __post_init__(self) -> None:
        owner = "scale_by_factored_rms"
        decay = schedule_or_checked(owner, "decay", self.decay, 0.0, 1.0, high_open=True)
        object.__setattr__(self, "decay", decay)
        check_range("scale_by_factored_rms", "eps", self.eps, 0.0)
        if not isinstance(self.min_dim_size_to_factor, int) or self.min_dim_size_to_factor < 0:
            raise ValueError(
                "scale_by_factored_rms: `min_dim_size_to_factor` must be an int >= 0, got "
                f"{self.min_dim_size_to_factor!r}."
            )

    def factored(self, shape: Shape) -> bool:
        """Whether a leaf of this shape keeps factored statistics."""
        return len(shape) >= 2 and min(shape[-2:]) >= self.min_dim_size_to_factor

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        """A buffer per shape of factored matrix (:func:`~gdtx._matrix.shape_keys`)."""
        return shape_keys(params, self.factored)

    def init_state(self, params: Params) -> FactoredState:
        def real(x: Any) -> Any:
            return jnp.finfo(compute_dtype(x.dtype)).dtype

        def matrix(p: jax.Array) -> tuple[Any, ...]:  # p: (k, r, c)
            # zeros laid out like p's rows and columns: from reductions, which keep the
            # other axes' shardings (indexing a sharded axis would gather it)
            rows, cols = jnp.sum(p, axis=2), jnp.sum(p, axis=1)
            return zeros(rows, real(p)), zeros(cols, real(p)), None

        def other(p: jax.Array) -> tuple[Any, ...]:
            return None, None, zeros(p, real(p))

        v_row, v_col, v = map_matrices(matrix, params, other=other, select=self.factored)
        return FactoredState(v_row=v_row, v_col=v_col, v=v)

    def step(
        self, updates: Updates, state: FactoredState, params: Params | None, ctx: Context
    ) -> tuple[Updates, FactoredState]:
        decay = value_at(self.decay, ctx.count)
        clamp = self.clamp_eps

        def scaled(g: jax.Array, v_hat: jax.Array) -> jax.Array:
            ct = compute_dtype(g.dtype)
            if clamp:  # g / √max(V̂, ε²)
                v_hat = jnp.maximum(v_hat, hyper(self.eps, v_hat.dtype) ** 2)
            return inverse_root_leaf(v_hat, numerator=g.astype(ct)).astype(g.dtype)  # g/√V̂

        def square(g: jax.Array, dtype: Any) -> jax.Array:
            g2 = abs_sq_leaf(g).astype(dtype)
            return g2 if clamp else g2 + hyper(self.eps, dtype)  # g² + ε₁

        def matrix(g: jax.Array, v_row: jax.Array, v_col: jax.Array, v: None) -> tuple[Any, ...]:
            del v
            g2 = square(g, v_row.dtype)  # (k, r, c)
            v_row = ewma_step(v_row, jnp.mean(g2, axis=2), decay)  # R
            v_col = ewma_step(v_col, jnp.mean(g2, axis=1), decay)  # C
            # V̂ = (R / mean(R)) Cᵀ: the ratio first, so that R·C cannot underflow
            mean = jnp.mean(v_row, axis=1, keepdims=True)
            if clamp:  # max(mean(R), ε)
                mean = jnp.maximum(mean, hyper(self.eps, mean.dtype))
            ratio = safe_div(v_row, mean)
            v_hat = ratio[:, :, None] * v_col[:, None, :]
            return scaled(g, v_hat), v_row, v_col, None

        def other(g: jax.Array, v_row: None, v_col: None, v: jax.Array) -> tuple[Any, ...]:
            del v_row, v_col
            v = ewma_step(v, square(g, v.dtype), decay)
            return scaled(g, v), None, None, v

        out, v_row, v_col, v = map_matrices(
            matrix, updates, state.v_row, state.v_col, state.v, other=other, select=self.factored
        )
        return out, FactoredState(v_row=v_row, v_col=v_col, v=v)


scale_by_factored_rms = ScaleByFactoredRms
