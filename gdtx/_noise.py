r"""Gradient noise and NaN removal: Optax's ``add_noise`` and ``zero_nans``.

Both run on parameter trees and on :class:`~gdtx.Packed` values alike. The noise
of a packed value is drawn leaf by leaf from the same keys as the tree's (one
sampler call per run of equal-size leaves), so a packed run adds exactly the
noise the per-leaf run adds. :func:`draw_like` does the drawing, for any sampler:
Sophia-H's Hutchinson estimator draws its random signs with it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._base import Context, Params, Transform, Updates, hyper
from ._combine import Chain
from ._layout import Packed, leaf_sums, leaf_zeros
from ._optim import ScalarOrSchedule, optimizer_chain
from ._tree import elementwise
from ._validate import check_range

__all__ = [
    "AddNoise",
    "AddNoiseState",
    "ZeroNans",
    "ZeroNansState",
    "add_noise",
    "noisy_sgd",
    "zero_nans",
]


class ZeroNansState(NamedTuple):
    """State of :class:`ZeroNans`.

    Attributes:
        found_nan: one bool per parameter array: whether the last update had a NaN
            in it (a tree like the parameters; for packed parameters, one vector
            per buffer with an entry per leaf, in storage order).
    """

    found_nan: Any


class ZeroNans(Transform):
    """Replaces NaN entries with 0: out = g where g is a number, 0 where g is NaN.

    ±inf passes unchanged. The state records, per parameter array, whether the
    last update had a NaN; nothing reads it but the user. Optax's ``zero_nans``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.zero_nans()
        >>> g = {"a": jnp.array([1.0, jnp.nan]), "b": jnp.ones(1)}
        >>> out, state = tx.update(g, tx.init(g))
        >>> out["a"], bool(state.inner.found_nan["a"]), bool(state.inner.found_nan["b"])
        (Array([1., 0.], dtype=float32), True, False)
    """

    def init_state(self, params: Params) -> ZeroNansState:
        return ZeroNansState(found_nan=leaf_zeros(params, lambda _: jnp.bool_))

    def step(
        self, updates: Updates, state: ZeroNansState, params: Params | None, ctx: Context
    ) -> tuple[Updates, ZeroNansState]:
        nan = jax.tree.map(jnp.isnan, updates)  # a Packed value stays one
        found = jax.tree.map(lambda n: n > 0, leaf_sums(nan, lambda n: n.astype(jnp.int32)))
        out = jax.tree.map(lambda g, n: jnp.where(n, jnp.zeros_like(g), g), updates, nan)
        return out, ZeroNansState(found_nan=found)


zero_nans = ZeroNans


class AddNoiseState(NamedTuple):
    """State of :class:`AddNoise`.

    Attributes:
        rng_key: the key the next step's noise is drawn from (a typed PRNG key).
    """

    rng_key: jax.Array


def _as_key(key: Any) -> jax.Array:
    """A typed PRNG key from an integer seed, a typed key or a raw ``uint32`` key."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, jax.Array | np.ndarray) and np.dtype(key.dtype) == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(key))
    return jax.random.key(key)


Sampler = Callable[[jax.Array, tuple[int, ...], Any], jax.Array]
"""A sampler ``(key, shape, dtype) -> draws``, as ``jax.random.normal`` is called."""


def rademacher(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """Random signs ±1 of ``shape`` in ``dtype``: ``jax.random.rademacher``'s float32 draws
    (those of Optax's Hutchinson estimator), cast to ``dtype``. A :data:`Sampler`."""
    return jax.random.rademacher(key, shape, jnp.float32).astype(dtype)


def _draws(sampler: Sampler, keys: jax.Array, which: list[int], size: int, dtype: Any) -> jax.Array:
    """Flat draws of ``size`` numbers from ``keys[i]`` for i in ``which``: an array of shape
    ``(len(which), size)``.

    Row r is ``sampler(keys[which[r]], (size,), dtype)``: for leaves of any shape, the
    numbers ``sampler`` draws for that shape, in flat order (JAX's bits follow the flat
    index). With the default (threefry) keys one batched call draws all rows, as one
    sampler in the compiled program rather than one per leaf; other key kinds (``rbg``)
    draw differently when batched, so each row is drawn alone.
    """
    picked = keys[np.asarray(which)]
    if str(jax.random.key_impl(keys)) == "threefry2x32":
        return jax.vmap(lambda k: sampler(k, (size,), dtype))(picked)
    return jnp.stack([sampler(k, (size,), dtype) for k in picked])


def draw_like(key: jax.Array, tree: Any, sampler: Sampler = jax.random.normal) -> Any:
    """Random numbers shaped like ``tree``, per parameter array: leaf i of the tree is
    ``sampler(keys[i], shape, dtype)`` with ``keys = split(key, number of leaves)``, in the
    leaf's shape and dtype. A packed value gets the same numbers, leaf by leaf, laid out
    in its buffers, with one sampler call per run of equal-size leaves.

    Args:
        key: a PRNG key (typed or raw ``uint32``).
        tree: a pytree of arrays, or a :class:`~gdtx.Packed` value.
        sampler: ``(key, shape, dtype) -> draws``: ``jax.random.normal`` (the default,
            :class:`AddNoise`'s) or :func:`rademacher` (Hutchinson's signs).

    Returns:
        A tree like ``tree`` (or a :class:`~gdtx.Packed` value in its layout).
    """
    if not isinstance(tree, Packed):
        leaves, treedef = jax.tree.flatten(tree)
        keys = jax.random.split(key, len(leaves))
        groups: dict[tuple[int, Any], list[int]] = {}  # leaves of one size and dtype
        for i, x in enumerate(leaves):
            groups.setdefault((math.prod(jnp.shape(x)), x.dtype), []).append(i)
        draws: list[Any] = [None] * len(leaves)
        for (size, dtype), which in groups.items():
            rows = _draws(sampler, keys, which, size, dtype)
            for r, i in enumerate(which):
                draws[i] = rows[r].reshape(jnp.shape(leaves[i]))
        return jax.tree.unflatten(treedef, draws)
    layout = tree.layout
    rank = {i: r for r, i in enumerate(layout.leaf_indices)}  # tree order of held leaves
    keys = jax.random.split(key, len(rank))
    buffers = []
    for b, x in zip(layout.buffers, tree.buffers, strict=True):
        if b.whole:
            rows = _draws(sampler, keys, [rank[b.leaves[0]]], x.size, x.dtype)
            buffers.append(rows.reshape(x.shape))
            continue
        pieces = [  # a run of leaves of one size: one (count, size) block
            _draws(sampler, keys, [rank[i] for i in b.leaves[pos : pos + count]], size, x.dtype)
            for pos, count, size in b.runs
        ]
        flat = [p.reshape(-1) for p in pieces]
        buffers.append(jnp.concatenate(flat) if len(flat) != 1 else flat[0])
    return Packed(tuple(buffers), layout)


class AddNoise(Transform):
    r"""Adds annealed Gaussian noise (Neelakantan et al., 2015, arXiv:1511.06807).

    $$ \text{out} = g + \sigma_t\, \xi, \qquad
       \sigma_t^2 = \frac{\eta}{t^{\gamma}}, \qquad \xi \sim \mathcal N(0, I) $$

    with t = count + 1. Each step splits the state's key in two, keeps the first
    and splits the second into one key per parameter array, and draws each array's
    noise in its dtype: Optax's ``add_noise`` key for key, so with the same key the
    noise is Optax's to rounding. The paper uses η ∈ {0.01, 0.3, 1} and γ = 0.55.

    Attributes:
        eta: η ≥ 0, the variance at the first step.
        gamma: γ ≥ 0, the decay exponent of the variance.
        key: an integer seed (which keeps the transformation hashable, so Flax NNX
            can hold it static), a ``jax.random.key`` or a raw ``PRNGKey``. Required:
            Optax 0.2.8 warns and uses 0 when it is missing; its deprecated ``seed``
            argument is not taken.

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> tx = gdtx.add_noise(eta=0.01, gamma=0.55, key=0)
        >>> g = jnp.zeros(10_000)
        >>> out, state = tx.update(g, tx.init(g))
        >>> round(float(jnp.std(out)), 2)  # √0.01
        0.1
    """

    eta: Any
    gamma: Any
    key: Any

    def __post_init__(self) -> None:
        check_range("add_noise", "eta", self.eta, 0.0)
        check_range("add_noise", "gamma", self.gamma, 0.0)
        if self.key is None:
            raise TypeError("add_noise: `key` is required (an integer seed or a jax.random key).")

    def init_state(self, params: Params) -> AddNoiseState:
        return AddNoiseState(rng_key=_as_key(self.key))

    def step(
        self, updates: Updates, state: AddNoiseState, params: Params | None, ctx: Context
    ) -> tuple[Updates, AddNoiseState]:
        dt = jnp.result_type(float)
        t = ctx.count.astype(dt) + 1
        sigma = jnp.sqrt(hyper(self.eta, dt) / t ** hyper(self.gamma, dt))  # √(η / t^γ)
        rng_key, sample_key = jax.random.split(state.rng_key)
        noise = draw_like(sample_key, updates)  # ξ

        def add(g: jax.Array, xi: jax.Array) -> jax.Array:
            return g + hyper(sigma, g.dtype) * xi.astype(g.dtype)  # g + σ_t·ξ

        out = elementwise(add, updates, noise)
        return out, AddNoiseState(rng_key=rng_key)


def add_noise(eta: Any, gamma: Any, key: Any) -> AddNoise:
    """Adds Gaussian noise of variance η/t^γ to the updates; see :class:`AddNoise`.

    Example:
        >>> import jax, gdtx
        >>> opt = gdtx.chain(gdtx.add_noise(0.01, 0.55, key=jax.random.key(0)), gdtx.sgd(0.1))
    """
    return AddNoise(eta, gamma, key)


def noisy_sgd(
    learning_rate: ScalarOrSchedule,
    eta: Any = 0.01,
    gamma: Any = 0.55,
    key: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Gradient descent on noisy gradients (Neelakantan et al., 2015, arXiv:1511.06807):
    θ ← θ − α(g + σ_t ξ), ξ ~ N(0, I), σ_t² = η / t^γ.

    The chain: ``chain(add_noise(η, γ, key), scale_by_learning_rate(α))``; see
    :class:`AddNoise`, which draws Optax's noise key for key. η = 0.01 (of the paper's
    {0.01, 0.3, 1}) and γ = 0.55 are the paper's and Optax's defaults. ``key`` is
    required: Optax 0.2.8 warns and uses 0 without one.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        eta: η ≥ 0, the noise variance at the first step.
        gamma: γ ≥ 0, the decay exponent of the variance.
        key: an integer seed, a ``jax.random.key`` or a raw ``PRNGKey``.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.noisy_sgd(0.1, eta=0.0, key=0)  # η = 0: plain SGD
        >>> params = jnp.array([1.0])
        >>> opt.update(jnp.array([2.0]), opt.init(params))[0]
        Array([-0.2], dtype=float32)
    """
    check_range("noisy_sgd", "eta", eta, 0.0)
    check_range("noisy_sgd", "gamma", gamma, 0.0)
    if key is None:
        raise TypeError("noisy_sgd: `key` is required (an integer seed or a jax.random key).")
    return optimizer_chain("noisy_sgd", learning_rate, maximize, AddNoise(eta, gamma, key))
