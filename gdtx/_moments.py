"""The one EWMA and the one bias correction, used by every block that needs them.

Notation (README.md, "Notation"): g is the incoming update, β a decay rate,
t = count + 1 the step number counted from 1.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from ._base import compute_dtype, hyper
from ._tree import map_leaves
from ._validate import check_range


def ewma_step(moment: Any, x: Any, beta: Any) -> Any:
    """One step of the exponentially weighted moving average, leaf by leaf.

    $$ m \\leftarrow \\beta\\, m + (1-\\beta)\\, x $$

    Computed in at least float32 and returned in each moment's dtype, so that a
    bfloat16 moment does not round β = 0.999 to 1.

    Args:
        moment: pytree of running averages m.
        x: pytree of new values (g, or g² for a second moment).
        beta: the decay rate β in [0, 1).

    Returns:
        The updated averages, with ``moment``'s structure and dtypes.
    """

    def leaf(m: jax.Array, v: jax.Array) -> jax.Array:
        ct = compute_dtype(m.dtype)
        b = hyper(beta, ct)
        new = b * m.astype(ct) + (1 - b) * v.astype(ct)  # m ← β·m + (1−β)·x
        return new.astype(m.dtype)

    return map_leaves(leaf, moment, x)


def bias_correction(beta: Any, count: jax.Array) -> jax.Array:
    """The factor 1 − βᵗ that removes the zero-initialisation bias of an EWMA.

    $$ 1 - \\beta^t = -\\operatorname{expm1}(t \\log \\beta), \\qquad t = \\text{count} + 1 $$

    Computed through ``expm1`` in the default float dtype: 1 − βᵗ formed by
    subtraction loses up to five digits in float32 when β is near 1.

    Args:
        beta: the decay rate β.
        count: steps taken before this one (so t = count + 1).

    Returns:
        A scalar (or an array shaped like ``beta``) in the default float dtype.
    """
    dt = jnp.result_type(float)
    t = jnp.asarray(count).astype(dt) + 1
    b = hyper(beta, dt)
    return -jnp.expm1(t * jnp.log(b))  # 1 − βᵗ


def debiased(moment: Any, beta: Any, count: jax.Array) -> Any:
    """Divides each leaf by the bias correction: m̂ = m / (1 − βᵗ)."""
    corr = bias_correction(beta, count)

    def leaf(m: jax.Array) -> jax.Array:
        ct = compute_dtype(m.dtype)
        return (m.astype(ct) / corr.astype(ct)).astype(m.dtype)  # m̂ = m / (1−βᵗ)

    return map_leaves(leaf, moment)


def ewma(
    series: Any,
    beta: float,
    *,
    debias: bool = False,
    start: Literal["zero", "first"] = "zero",
) -> jax.Array:
    """The exponentially weighted moving average of a series, along its first axis.

    $$ S_0 = 0, \\quad S_t = \\beta S_{t-1} + (1-\\beta) Y_t, \\quad
       \\hat S_t = S_t / (1-\\beta^t) $$

    The same arithmetic as every moment inside gdtx's optimizers.

    Args:
        series: array of shape ``(T, ...)``: Y₁ … Y_T.
        beta: the weight β in [0, 1) given to the running average.
        debias: divide S_t by 1 − βᵗ (bias correction).
        start: ``"zero"`` starts from S₀ = 0 (the optimizers' convention);
            ``"first"`` starts from S₁ = Y₁, as some textbooks do.

    Returns:
        The averages S₁ … S_T, same shape as ``series`` (float).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> gdtx.ewma(jnp.array([1.0, 1.0, 1.0]), 0.5)
        Array([0.5  , 0.75 , 0.875], dtype=float32)
        >>> gdtx.ewma(jnp.array([1.0, 1.0, 1.0]), 0.5, debias=True)
        Array([1., 1., 1.], dtype=float32)
    """
    check_range("ewma", "beta", beta, 0.0, 1.0, high_open=True)
    if start not in ("zero", "first"):
        raise ValueError(f"ewma: `start` must be 'zero' or 'first', got {start!r}.")
    if debias and start == "first":
        raise ValueError("ewma: `debias=True` applies to start='zero' only.")
    ys = jnp.asarray(series)
    ys = ys.astype(compute_dtype(ys.dtype))
    s0 = ys[0] if start == "first" else jnp.zeros_like(ys[0])
    rest = ys[1:] if start == "first" else ys

    def body(s: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        y, count = inputs
        s = ewma_step(s, y, beta)
        return s, (debiased(s, beta, count) if debias else s)

    counts = jnp.arange(rest.shape[0], dtype=jnp.int32)
    _, out = jax.lax.scan(body, s0, (rest, counts))
    if start == "first":
        out = jnp.concatenate([s0[None], out])
    return out
