r"""SM3's accumulators: AdaGrad with one number per row and per column of each matrix.

Written once against :func:`~gdtx.map_matrices`, as Adafactor's factored moments are, it
runs per-leaf and on packed buffers, where a run of equal-shape matrices is one reshape
and one call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, Params, Transform, Updates, compute_dtype
from ._matrix import Shape, is_matrix, map_matrices, shape_keys
from ._rms import inverse_root_leaf
from ._tree import abs_sq_leaf, zeros
from ._validate import check_range


class Sm3State(NamedTuple):
    """State of :class:`ScaleBySm3`: per-leaf trees with ``None`` at the leaves a field does
    not cover (or, for packed parameters, :class:`~gdtx.Packed` values).

    Attributes:
        v_row: the row accumulators, shape ``(..., r)``, for each leaf of shape ``(..., r, c)``.
        v_col: the column accumulators, shape ``(..., c)``.
        v: the sum of |g|² itself, for each leaf of fewer than two dimensions.
    """

    v_row: Any
    v_col: Any
    v: Any


def _covered(shape: Shape) -> bool:
    """Leaves whose matrices get row and column accumulators (non-empty matrices)."""
    return is_matrix(shape) and 0 not in shape[-2:]


class ScaleBySm3(Transform):
    r"""SM3-II's preconditioner with the cover of rows and columns (Anil, Gupta, Koren &
    Singer, 2019, "Memory-Efficient Adaptive Optimization", arXiv:1901.11150, Algorithm 4).

    For each matrix G (r × c) of a leaf of shape ``(..., r, c)`` (leading dimensions are a
    stack of matrices, each with its own accumulators), with row accumulators μ_row ∈ ℝʳ and
    column accumulators μ_col ∈ ℝᶜ, both starting at 0:

    $$ \nu_{ij} = \lvert G_{ij}\rvert^2 + \min(\mu_{row,i},\, \mu_{col,j}), \qquad
       \text{out}_{ij} = \frac{G_{ij}}{\sqrt{\nu_{ij} + \varepsilon}}, \qquad
       \mu_{row,i} \leftarrow \max_j \nu_{ij}, \quad \mu_{col,j} \leftarrow \max_i \nu_{ij} $$

    with out = 0 where ν + ε = 0 (the paper's 0/0 = 0). A vector or a scalar keeps one
    accumulator per entry, which is AdaGrad's: v ← v + |g|², out = g/√(v + ε), as Optax
    does for vectors (Optax rejects scalars). Memory is r + c numbers per matrix. Optax
    keeps one accumulator per axis of a leaf of three or more dimensions; here leading
    dimensions are a stack of matrices. The state (:class:`Sm3State`) is real, at least
    float32.

    Attributes:
        eps: ε ≥ 0 inside the root (the paper has none; Optax's ``sm3`` uses 1e-8).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_sm3()
        >>> g = {"w": jnp.array([[1.0, 2.0], [0.0, 4.0]]), "b": jnp.array([3.0])}
        >>> state = tx.init(g)
        >>> out, state = tx.update(g, state)
        >>> state.inner.v_row["w"], state.inner.v_col["w"]  # row and column maxima of |G|²
        (Array([ 4., 16.], dtype=float32), Array([ 1., 16.], dtype=float32))
        >>> out, state = tx.update(g, state)
        >>> out["w"].round(4)  # ν = G² + min(μ_row, μ_col) = [[2, 8], [1, 32]]
        Array([[0.7071, 0.7071],
               [0.    , 0.7071]], dtype=float32)
    """

    eps: Any = 0.0

    def __post_init__(self) -> None:
        check_range("scale_by_sm3", "eps", self.eps, 0.0)

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        """A buffer per shape of covered matrix (:func:`~gdtx._matrix.shape_keys`)."""
        return shape_keys(params, _covered)

    def init_state(self, params: Params) -> Sm3State:
        def real(x: Any) -> Any:
            return jnp.finfo(compute_dtype(x.dtype)).dtype

        def matrix(p: jax.Array) -> tuple[Any, ...]:  # p: (k, r, c)
            # zeros reduced along an axis, not sliced: they keep the matrix's sharding of
            # the other axis, and slicing a sharded axis is refused on Explicit meshes
            z = zeros(p, real(p))
            return jnp.max(z, axis=2), jnp.max(z, axis=1), None

        def other(p: jax.Array) -> tuple[Any, ...]:
            return None, None, zeros(p, real(p))

        v_row, v_col, v = map_matrices(matrix, params, other=other, select=_covered)
        return Sm3State(v_row=v_row, v_col=v_col, v=v)

    def step(
        self, updates: Updates, state: Sm3State, params: Params | None, ctx: Context
    ) -> tuple[Updates, Sm3State]:
        def scaled(g: jax.Array, nu: jax.Array) -> jax.Array:  # g/√(ν + ε), 0 for 0/0
            x = g.astype(compute_dtype(g.dtype))
            return inverse_root_leaf(nu, eps_root=self.eps, numerator=x).astype(g.dtype)

        def matrix(g: jax.Array, v_row: jax.Array, v_col: jax.Array, v: None) -> tuple[Any, ...]:
            del v
            cover = jnp.minimum(v_row[:, :, None], v_col[:, None, :])  # min(μ_row,i, μ_col,j)
            nu = abs_sq_leaf(g).astype(v_row.dtype) + cover  # ν, (k, r, c)
            return scaled(g, nu), jnp.max(nu, axis=2), jnp.max(nu, axis=1), None

        def other(g: jax.Array, v_row: None, v_col: None, v: jax.Array) -> tuple[Any, ...]:
            del v_row, v_col
            nu = v + abs_sq_leaf(g).astype(v.dtype)  # v ← v + |g|²
            return scaled(g, nu), None, None, nu

        out, v_row, v_col, v = map_matrices(
            matrix, updates, state.v_row, state.v_col, state.v, other=other, select=_covered
        )
        return out, Sm3State(v_row=v_row, v_col=v_col, v=v)


scale_by_sm3 = ScaleBySm3
