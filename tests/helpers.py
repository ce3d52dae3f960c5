"""Shared test helpers: random parameter trees, gradient sequences, running optimizers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gdtx

SHAPES: dict[str, tuple[int, ...]] = {"w": (3, 4), "b": (4,), "s": (), "k": (2, 1, 3)}
"""A tree of several leaves and shapes, scalar included."""


def random_tree(seed: int, shapes: dict[str, tuple[int, ...]] = SHAPES, scale: float = 1.0):
    """A dict of float64 NumPy arrays drawn from N(0, scale²)."""
    rng = np.random.default_rng(seed)
    return {k: scale * rng.standard_normal(s) for k, s in shapes.items()}


def gradient_sequence(seed: int, steps: int, shapes: dict[str, tuple[int, ...]] = SHAPES):
    """``steps`` random gradient trees (float64 NumPy), already rounded to float32.

    Rounding first means the float64 reference and the float32 library see the
    same inputs, so differences come from the arithmetic alone.
    """
    rng = np.random.default_rng(seed)
    return [
        {k: rng.standard_normal(s).astype(np.float32).astype(np.float64) for k, s in shapes.items()}
        for _ in range(steps)
    ]


def to_f32(tree: Any) -> Any:
    """Float32 JAX arrays from a NumPy tree."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def continue_run(
    opt: Any, params: Any, state: Any, grads: Sequence[Any], pk: Any = None, *, jit: bool = True
) -> tuple[list[Any], Any]:
    """Runs ``opt`` from ``state`` over the gradients (packed with ``pk`` if given);
    returns each step's parameters as trees (NumPy) and the last state."""

    def one(params: Any, state: Any, g: Any) -> tuple[Any, Any]:
        updates, state = opt.update(g, state, params)
        return gdtx.apply_updates(params, updates), state

    step: Callable[..., Any] = jax.jit(one) if jit else one
    path = []
    for g in grads:
        g = jax.tree.map(lambda x: x if isinstance(x, jax.Array) else jnp.float32(x), g)
        params, state = step(params, state, g if pk is None else pk.pack(g))
        path.append(jax.tree.map(np.asarray, params if pk is None else pk.unpack(params)))
    return path, state


def run_gdtx(
    opt: Any, params: Any, grads: Sequence[Any], *, jit: bool = True
) -> tuple[list[Any], Any]:
    """Runs ``opt`` over the gradients; returns each step's params (NumPy) and the state."""
    params = to_f32(params)
    return continue_run(opt, params, opt.init(params), [to_f32(g) for g in grads], jit=jit)


def assert_trees_close(actual: Any, expected: Any, rtol: float = 1e-5, what: str = "") -> None:
    """Each leaf within ``rtol`` relative to the leaf's largest magnitude (norm-wise relative)."""
    a_leaves, a_def = jax.tree.flatten(actual)
    e_leaves, e_def = jax.tree.flatten(expected)
    assert a_def == e_def, f"{what}: structures differ: {a_def} vs {e_def}"
    for path, a, e in zip(
        jax.tree_util.tree_flatten_with_path(expected)[0], a_leaves, e_leaves, strict=True
    ):
        a = np.asarray(a, np.float64)
        e = np.asarray(e, np.float64)
        scale = max(float(np.max(np.abs(e), initial=0.0)), 1e-30)
        err = float(np.max(np.abs(a - e), initial=0.0)) / scale
        assert err <= rtol, (
            f"{what} {jax.tree_util.keystr(path[0])}: relative error {err:.3g} > {rtol:.1g}"
        )
