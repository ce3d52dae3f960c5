r"""Per-array operations from Optax: gradient centralization, adaptive (unit-wise)
gradient clipping, and scaling by each parameter array's norm or RMS.

Each runs on parameter trees and on :class:`~gdtx.Packed` values alike. Scaling by
a per-array scalar uses :func:`~gdtx.leaf_norms`/:func:`~gdtx.leaf_rms` and
:func:`~gdtx.scale_leaves`; reductions over some axes of each array (the units of a
layer) use :func:`~gdtx.map_stacked`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ._base import Context, EmptyState, Params, Transform, Updates, hyper, static
from ._layout import leaf_norms, leaf_rms, scale_leaves
from ._matrix import map_stacked, shape_keys
from ._tree import abs_sq_leaf, to_compute
from ._validate import check_params, check_range

__all__ = [
    "AdaptiveGradClip",
    "Centralize",
    "ScaleByParamBlockNorm",
    "ScaleByParamBlockRms",
    "adaptive_grad_clip",
    "centralize",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
]

Shape = tuple[int, ...]


class Centralize(Transform):
    r"""Gradient centralization (Yong et al., 2020, arXiv:2004.01461).

    $$ \text{out}_{i\ldots} = g_{i\ldots} - \operatorname{mean}_{\ldots}(g_{i\ldots}) $$

    For each array of two or more dimensions, subtracts the mean over all axes but
    the first; vectors and scalars pass unchanged. Optax's ``centralize``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.centralize()
        >>> g = jnp.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        >>> tx.update(g, tx.init(g))[0]
        Array([[-1.,  0.,  1.],
               [-1.,  0.,  1.]], dtype=float32)
    """

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        """A buffer per matrix shape (:func:`~gdtx._matrix.shape_keys`)."""
        return shape_keys(params)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        def center(shape: Shape, g: jax.Array) -> jax.Array:
            if len(shape) < 2:
                return g
            gc = to_compute(g)
            mean = jnp.mean(gc, axis=tuple(range(2, gc.ndim)), keepdims=True)
            return (gc - mean).astype(g.dtype)

        return map_stacked(center, updates), state


centralize = Centralize


def _unit_axes(owner: str, shape: Shape, axis: Any) -> tuple[int, ...]:
    """The axes a unit-wise norm sums over, for a leaf of this shape (Optax's rule)."""
    ndim = len(shape)
    if ndim == 0:  # a scalar is its own unit
        return ()
    if axis is not None:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        return tuple(a % ndim for a in axes)
    if sum(d != 1 for d in shape) <= 1:  # scalars and vectors (after squeezing)
        return tuple(range(ndim))
    if ndim in (2, 3):  # dense kernels (in, out) and multi-head (in, heads, out)
        return (0,)
    if ndim in (4, 5):  # convolution kernels (spatial..., in, out)
        return tuple(range(ndim - 1))
    raise ValueError(
        f"{owner}: no unit-wise norm for a parameter of shape {shape}; pass `axis` "
        "(the axes to reduce over)."
    )


class AdaptiveGradClip(Transform):
    r"""Adaptive gradient clipping, unit by unit (Brock et al., 2021, arXiv:2102.06171).

    $$ \text{out}_u = \begin{cases} g_u & \lVert g_u\rVert < \lambda\,\max(\lVert\theta_u
       \rVert, \varepsilon) \\ g_u\, \dfrac{\lambda \max(\lVert\theta_u\rVert,
       \varepsilon)}{\max(\lVert g_u\rVert, 10^{-6})} & \text{otherwise} \end{cases} $$

    for each unit u of each parameter array: its norms run over ``axis``, or by
    default over every axis for scalars and vectors (arrays with at most one
    dimension larger than 1), over axis 0 for 2- and 3-D arrays (a dense kernel's
    column, an output unit), and over all axes but the last for 4- and 5-D
    convolution kernels (HWIO, DHWIO). Other shapes need ``axis``. Optax's
    ``adaptive_grad_clip``; the paper uses λ = 0.01 to 0.16 and ε = 1e-3.

    Attributes:
        clipping: λ > 0, the largest ratio of a unit's update norm to its
            parameter norm.
        eps: ε ≥ 0, the parameter norm below which zero-initialised units count
            as ε.
        axis: static: the axis or axes of each array to reduce over, or ``None``
            for the rule above.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.adaptive_grad_clip(0.1)
        >>> p, g = jnp.array([3.0, 4.0]), jnp.array([0.0, 1.0])  # ‖θ‖ = 5: ‖g‖ ≤ 0.5
        >>> tx.update(g, tx.init(p), p)[0]
        Array([0. , 0.5], dtype=float32)
    """

    clipping: Any
    eps: Any = 1e-3
    axis: int | tuple[int, ...] | None = static(default=None)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("adaptive_grad_clip", "clipping", self.clipping, 0.0, low_open=True)
        check_range("adaptive_grad_clip", "eps", self.eps, 0.0)
        if isinstance(self.axis, list):
            object.__setattr__(self, "axis", tuple(self.axis))

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        """A buffer per matrix shape (:func:`~gdtx._matrix.shape_keys`)."""
        return shape_keys(params)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        params = check_params("adaptive_grad_clip", params)

        def clip(shape: Shape, g: jax.Array, p: jax.Array) -> jax.Array:
            axes = tuple(a + 1 for a in _unit_axes("adaptive_grad_clip", shape, self.axis))
            gc = to_compute(g)
            g_norm = jnp.sqrt(jnp.sum(abs_sq_leaf(gc), axis=axes, keepdims=True))
            p_norm = jnp.sqrt(jnp.sum(abs_sq_leaf(p), axis=axes, keepdims=True))
            dt = g_norm.dtype
            limit = hyper(self.clipping, dt) * jnp.maximum(p_norm, hyper(self.eps, dt))
            factor = jnp.where(g_norm < limit, 1.0, limit / jnp.maximum(g_norm, 1e-6))
            return (gc * factor.astype(gc.dtype)).astype(g.dtype)

        return map_stacked(clip, updates, params), state


def adaptive_grad_clip(clipping: Any, eps: Any = 1e-3, axis: Any = None) -> AdaptiveGradClip:
    """Clips each unit's update to λ times its parameter norm; see :class:`AdaptiveGradClip`.

    Example:
        >>> import gdtx
        >>> opt = gdtx.chain(gdtx.adaptive_grad_clip(0.01), gdtx.sgd(0.1, momentum=0.9))
    """
    return AdaptiveGradClip(clipping, eps, axis)


def _floored(x: jax.Array, floor: Any) -> jax.Array:
    """x, or ``floor`` where x ≤ floor."""
    f = hyper(floor, x.dtype)
    return jnp.where(x <= f, f, x)


class _ScaleByParamBlock(Transform):
    """g · max(m(θ), s_min) per parameter array, m the subclass's ``measure`` of the array
    (:func:`leaf_norms` or :func:`leaf_rms`, so packed and per-leaf alike)."""

    min_scale: Any = 1e-3
    reads_params: ClassVar[bool] = True
    owner: ClassVar[str] = ""
    measure: ClassVar[Callable[[Params], Any]]

    def __post_init__(self) -> None:
        check_range(self.owner, "min_scale", self.min_scale, 0.0)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        params = check_params(self.owner, params)
        factors = jax.tree.map(lambda m: _floored(m, self.min_scale), self.measure(params))
        return scale_leaves(updates, factors), state


class ScaleByParamBlockNorm(_ScaleByParamBlock):
    r"""Scales each array's update by its parameter array's norm.

    $$ \text{out} = g \cdot \max(\lVert\theta\rVert, s_{\min}) $$

    per parameter array (block), where ‖θ‖ is the Euclidean (Frobenius) norm of the
    whole array. Optax's ``scale_by_param_block_norm``; Adafactor's relative step
    size (Shazeer & Stern, 2018, arXiv:1804.04235) uses the RMS variant,
    :class:`ScaleByParamBlockRms`.

    Attributes:
        min_scale: s_min ≥ 0, the smallest factor.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_param_block_norm()
        >>> p, g = jnp.array([3.0, 4.0]), jnp.ones(2)
        >>> tx.update(g, tx.init(p), p)[0]
        Array([5., 5.], dtype=float32)
    """

    owner: ClassVar[str] = "scale_by_param_block_norm"
    measure = staticmethod(leaf_norms)


class ScaleByParamBlockRms(_ScaleByParamBlock):
    r"""Scales each array's update by its parameter array's root mean square.

    $$ \text{out} = g \cdot \max(\operatorname{rms}(\theta), s_{\min}), \qquad
       \operatorname{rms}(\theta) = \sqrt{\tfrac1n \textstyle\sum_i |\theta_i|^2} $$

    per parameter array (block) of n entries: the relative step size of Adafactor
    (Shazeer & Stern, 2018, arXiv:1804.04235, §8). Optax's
    ``scale_by_param_block_rms``.

    Attributes:
        min_scale: s_min ≥ 0, the smallest factor (Adafactor's ε₂ = 1e-3).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_param_block_rms()
        >>> p, g = jnp.array([3.0, -3.0]), jnp.ones(2)
        >>> tx.update(g, tx.init(p), p)[0]
        Array([3., 3.], dtype=float32)
    """

    owner: ClassVar[str] = "scale_by_param_block_rms"
    measure = staticmethod(leaf_rms)


scale_by_param_block_norm = ScaleByParamBlockNorm
scale_by_param_block_rms = ScaleByParamBlockRms
