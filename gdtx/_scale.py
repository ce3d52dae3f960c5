"""Scaling, learning rates, weight decay, clipping and the layer-wise trust ratio."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ._base import Context, EmptyState, Params, Transform, Updates, hyper, static
from ._layout import leaf_norms, leaf_rms, merge_leaves, scale_leaves, select_leaves
from ._masks import freeze_mask, mask_leaves
from ._schedules import as_schedule, schedule_or_checked, value_at
from ._tree import elementwise, global_norm, safe_div
from ._validate import check_params, check_range


class Scale(Transform):
    """Multiplies every update by a constant: out = s·g.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale(-0.5)
        >>> g = jnp.ones(2)
        >>> tx.update(g, tx.init(g))[0]
        Array([-0.5, -0.5], dtype=float32)
    """

    step_size: Any

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        s = self.step_size
        return elementwise(lambda g: hyper(s, g.dtype) * g, updates), state  # s·g


class ScaleByLearningRate(Transform):
    """Scales by the negative learning rate: out = −α_t·g, with α_t = schedule(t − 1).

    ``learning_rate`` is a number (a leaf: changing it does not recompile), a
    gdtx schedule (its constants are leaves) or any function of the step
    count, such as an Optax schedule (held static).

    Attributes:
        learning_rate: α ≥ 0, or a schedule.
        flip_sign: multiply by −α (descent) rather than α.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_learning_rate(0.1)
        >>> g = jnp.ones(1)
        >>> tx.update(g, tx.init(g))[0]
        Array([-0.1], dtype=float32)
    """

    learning_rate: Any
    flip_sign: bool = static(default=True)

    def __post_init__(self) -> None:
        lr = schedule_or_checked("scale_by_learning_rate", "learning_rate", self.learning_rate)
        object.__setattr__(self, "learning_rate", lr)

    def rate_at(self, count: jax.Array) -> jax.Array:
        """α for the step after ``count`` steps: the schedule's value, or the constant."""
        return jnp.asarray(value_at(self.learning_rate, count))

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        alpha = self.rate_at(ctx.count)
        sign = -1.0 if self.flip_sign else 1.0
        return elementwise(lambda g: sign * hyper(alpha, g.dtype) * g, updates), state


class ScaleBySchedule(Transform):
    """Multiplies by a schedule of the step: out = s(t − 1)·g.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_schedule(gdtx.constant_schedule(2.0))
        >>> g = jnp.ones(1)
        >>> tx.update(g, tx.init(g))[0]
        Array([2.], dtype=float32)
    """

    step_size_fn: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "step_size_fn", as_schedule(self.step_size_fn))

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        s = self.step_size_fn(ctx.count)
        return elementwise(lambda g: hyper(s, g.dtype) * g, updates), state


class AddDecayedWeights(Transform):
    """Adds weight decay: out = g + λθ.

    Placed before a preconditioner (Adam's moments, RMSProp) this is L2
    regularisation, PyTorch's ``weight_decay``; placed after it and before the
    learning rate it is decoupled weight decay (Loshchilov & Hutter, 2019), as
    in AdamW.

    Attributes:
        weight_decay: λ ≥ 0.
        mask: pytree of bools (or a function of the parameters returning one)
            selecting the leaves that decay; ``None`` decays all.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.add_decayed_weights(0.1)
        >>> p, g = jnp.array([2.0]), jnp.array([1.0])
        >>> tx.update(g, tx.init(p), p)[0]
        Array([1.2], dtype=float32)
    """

    weight_decay: Any
    mask: Any = static(default=None)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range("add_decayed_weights", "weight_decay", self.weight_decay, 0.0)
        object.__setattr__(self, "mask", freeze_mask(self.mask))

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        params = check_params("add_decayed_weights", params)
        lam = self.weight_decay

        def decay(g: jax.Array, p: jax.Array) -> jax.Array:
            return g + hyper(lam, g.dtype) * p.astype(g.dtype)  # g + λ·θ

        if self.mask is None:
            return elementwise(decay, updates, params), state
        flags = mask_leaves("add_decayed_weights", self.mask, params)
        g = select_leaves("add_decayed_weights", updates, flags)
        p = select_leaves("add_decayed_weights", params, flags)
        return merge_leaves(updates, flags, elementwise(decay, g, p)), state

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        if self.mask is None:
            return super().packing_keys(params)
        return [("decay", f) for f in mask_leaves("add_decayed_weights", self.mask, params)]


class Clip(Transform):
    """Clips every coordinate to [−δ, δ]: out = clip(g, −δ, δ).

    For complex entries the modulus is clipped and the phase kept.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.clip(1.0)
        >>> g = jnp.array([-3.0, 0.5])
        >>> tx.update(g, tx.init(g))[0]
        Array([-1. ,  0.5], dtype=float32)
    """

    max_delta: Any

    def __post_init__(self) -> None:
        check_range("clip", "max_delta", self.max_delta, 0.0)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        def clip(g: jax.Array) -> jax.Array:
            if jnp.issubdtype(g.dtype, jnp.complexfloating):  # |g| clipped, phase kept
                d = hyper(self.max_delta, jnp.abs(g).dtype)
                return g * jnp.minimum(1, safe_div(d, jnp.abs(g))).astype(g.dtype)
            d = hyper(self.max_delta, g.dtype)
            return jnp.clip(g, -d, d)

        return elementwise(clip, updates), state


class ClipByGlobalNorm(Transform):
    r"""Rescales all updates together so that their global norm is at most c.

    $$ \text{out} = g \cdot \min\!\Bigl(1, \frac{c}{\lVert g \rVert}\Bigr),
       \qquad \lVert g \rVert = \sqrt{\textstyle\sum_{\text{leaves}} \sum g^2} $$

    (Pascanu et al., 2013.)

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.clip_by_global_norm(1.0)
        >>> g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
        >>> tx.update(g, tx.init(g))[0]["b"]
        Array([0.8], dtype=float32)
    """

    max_norm: Any

    def __post_init__(self) -> None:
        check_range("clip_by_global_norm", "max_norm", self.max_norm, 0.0)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        norm = global_norm(updates)
        c = hyper(self.max_norm, norm.dtype)
        factor = jnp.where(norm <= c, 1.0, c / jnp.where(norm > 0, norm, 1.0))  # min(1, c/‖g‖)
        return elementwise(lambda g: g * factor.astype(g.dtype), updates), state


class ScaleByTrustRatio(Transform):
    r"""Scales each leaf by its layer-wise trust ratio (LARS; You et al., 2017, arXiv:1708.03888).

    $$ \text{out} = \eta\,\frac{\lVert\theta\rVert}{\lVert g\rVert + \varepsilon}\, g $$

    per parameter array (layer), where g already carries the weight decay
    term. Where ‖θ‖ or ‖g‖ is below ``min_norm`` (zero by default) the ratio
    is 1, so freshly zero-initialised layers still move.

    Attributes:
        trust_coefficient: η > 0.
        eps: ε ≥ 0.
        min_norm: norms at or below this count as zero.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_trust_ratio(trust_coefficient=1.0)
        >>> p, g = jnp.array([3.0, 4.0]), jnp.array([0.0, 10.0])
        >>> tx.update(g, tx.init(p), p)[0]  # ‖θ‖/‖g‖ = 0.5
        Array([0., 5.], dtype=float32)
    """

    trust_coefficient: Any = 1.0
    eps: Any = 0.0
    min_norm: Any = 0.0
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_range(
            "scale_by_trust_ratio",
            "trust_coefficient",
            self.trust_coefficient,
            0.0,
            low_open=True,
        )
        check_range("scale_by_trust_ratio", "eps", self.eps, 0.0)
        check_range("scale_by_trust_ratio", "min_norm", self.min_norm, 0.0)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        params = check_params("scale_by_trust_ratio", params)

        def ratio(p_norm: jax.Array, g_norm: jax.Array) -> jax.Array:  # ‖θ‖, ‖g‖ of one array
            dt = p_norm.dtype
            floor = hyper(self.min_norm, dt)
            trust = hyper(self.trust_coefficient, dt) * p_norm / (g_norm + hyper(self.eps, dt))
            zero = (p_norm <= floor) | (g_norm <= floor)
            return jnp.where(zero, 1.0, trust)  # η‖θ‖/(‖g‖+ε), or 1

        ratios = jax.tree.map(ratio, leaf_norms(params), leaf_norms(updates))
        return scale_leaves(updates, ratios), state


class ClipByBlockRms(Transform):
    r"""Clips each parameter array's update to a root-mean-square of at most δ.

    $$ \text{out} = g \cdot \min\!\Bigl(1, \frac{\delta}{\operatorname{rms}(g)}\Bigr),
       \qquad \operatorname{rms}(g) = \sqrt{\tfrac1n \textstyle\sum |g_i|^2} $$

    per array (block) of n entries. Optax's ``clip_by_block_rms``.

    Attributes:
        threshold: δ > 0.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.clip_by_block_rms(1.0)
        >>> g = {"a": jnp.array([4.0, 4.0]), "b": jnp.array([0.5])}
        >>> out = tx.update(g, tx.init(g))[0]  # rms(a) = 4: scaled by 1/4; rms(b) = 0.5: kept
        >>> out["a"], out["b"]
        (Array([1., 1.], dtype=float32), Array([0.5], dtype=float32))
    """

    threshold: Any

    def __post_init__(self) -> None:
        check_range("clip_by_block_rms", "threshold", self.threshold, 0.0, low_open=True)

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        def factor(rms: jax.Array) -> jax.Array:  # rms(g) of one array
            d = hyper(self.threshold, rms.dtype)
            return jnp.where(rms > d, d / jnp.where(rms > 0, rms, 1), 1.0)  # min(1, δ/rms)

        return scale_leaves(updates, jax.tree.map(factor, leaf_rms(updates))), state


scale = Scale
scale_by_learning_rate = ScaleByLearningRate
scale_by_schedule = ScaleBySchedule
add_decayed_weights = AddDecayedWeights
clip = Clip
clip_by_global_norm = ClipByGlobalNorm
clip_by_block_rms = ClipByBlockRms
scale_by_trust_ratio = ScaleByTrustRatio
