"""Shared test helpers: random parameter trees, gradient sequences, running optimizers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

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


def stack_trees(trees: Sequence[Any]) -> Any:
    """A list of trees → one tree of stacked arrays (the leading axis is the step)."""
    return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def unstack_tree(tree: Any) -> list[Any]:
    """One tree of stacked arrays → the list of its slices along the leading axis."""
    n = len(jax.tree.leaves(tree)[0])
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(n)]


def _value(v: Any) -> dict[str, Any]:
    """``update``'s keyword arguments for a step's loss ``v`` (``None``: no loss)."""
    return {} if v is None else {"value": v}


@jax.jit
def _scan_run(
    opt: Any, params: Any, state: Any, grads: Any, values: Any, pk: Any
) -> tuple[Any, Any]:
    """The whole run in one program: the optimizer (a pytree) and the packing are
    arguments, so runs that differ only in hyperparameters share one compilation.
    Parameters given as a tree with a packing are packed, and a ``None`` state is
    initialised, inside the program. ``values`` (``None``, or one loss per step) are
    given to ``update`` as ``value=``."""
    if pk is not None and not isinstance(params, gdtx.Packed):
        params = pk.pack(params)
    if state is None:
        state = opt.init(params)

    def body(carry: Any, x: Any) -> tuple[Any, Any]:
        params, state = carry
        g, v = x
        updates, state = opt.update(g if pk is None else pk.pack(g), state, params, **_value(v))
        params = gdtx.apply_updates(params, updates)
        return (params, state), params if pk is None else pk.unpack(params)

    (_, state), path = jax.lax.scan(body, (params, state), (grads, values))
    return path, state


def _as_jax(x: Any) -> Any:
    return x if isinstance(x, jax.Array) else jnp.asarray(x, jnp.float32)


def _stack(*xs: Any) -> Any:
    """One leaf over the steps: NumPy inputs become one float32 array, JAX ones keep their dtype."""
    if any(isinstance(x, jax.Array) for x in xs):
        return jnp.stack([_as_jax(x) for x in xs])
    return np.stack([np.asarray(x, np.float32) for x in xs])


def _values(values: Any, steps: int) -> Any:
    """The losses of a run as one array (NumPy ones in float32, a JAX array as it is), or
    ``None``."""
    if values is None:
        return None
    assert len(values) == steps, f"{len(values)} values for {steps} steps"
    return values if isinstance(values, jax.Array) else np.asarray(values, np.float32)


def trajectory(
    opt: Any,
    params: Any,
    state: Any,
    grads: Sequence[Any],
    pk: Any = None,
    *,
    values: Any = None,
) -> tuple[Any, Any]:
    """Runs ``opt`` from ``state`` (``None``: a fresh one) over the gradients (packed with
    ``pk`` if given), in one jitted scan; returns the parameters after each step as one
    tree of ``(steps, …)`` NumPy arrays, and the last state. NumPy gradients enter as
    float32. ``values``: the loss of each step, given as ``update(..., value=)``, for the
    algorithms that read it (``Algorithm.needs_value``)."""
    stacked = jax.tree.map(_stack, *grads)
    path, state = _scan_run(opt, params, state, stacked, _values(values, len(grads)), pk)
    return jax.tree.map(np.asarray, path), state


def run_optax(tx: Any, params: Any, grads: Sequence[Any], values: Any = None) -> Any:
    """The Optax twin of :func:`trajectory`: each step's parameters as one tree of
    ``(steps, …)`` arrays, the whole run one jitted scan (``values``: each step's loss,
    given as ``update(..., value=)``).

    Optax is not strict-promotion clean, so it runs (and traces) under standard promotion.
    """

    def body(carry: Any, x: Any) -> tuple[Any, Any]:
        params, state = carry
        g, v = x
        updates, state = tx.update(g, state, params, **_value(v))
        params = optax.apply_updates(params, updates)
        return (params, state), params

    params = to_f32(params)
    stacked = to_f32({k: np.stack([g[k] for g in grads]) for k in grads[0]})
    values = _values(values, len(grads))
    with jax.numpy_dtype_promotion("standard"):
        run = jax.jit(lambda p, xs: jax.lax.scan(body, (p, tx.init(p)), xs)[1])
        return jax.tree.map(np.asarray, run(params, (stacked, values)))


def continue_run(
    opt: Any,
    params: Any,
    state: Any,
    grads: Sequence[Any],
    pk: Any = None,
    *,
    jit: bool = True,
    values: Any = None,
) -> tuple[list[Any], Any]:
    """Runs ``opt`` from ``state`` over the gradients (packed with ``pk`` if given);
    returns each step's parameters as trees (NumPy) and the last state.

    Jitted, the whole run is one scan (:func:`trajectory`); eager, one step at a time.
    ``values``: each step's loss, as in :func:`trajectory`."""
    if jit:
        path, state = trajectory(opt, params, state, grads, pk, values=values)
        return unstack_tree(path), state
    values = _values(values, len(grads))
    out = []
    for t, g in enumerate(grads):
        g = jax.tree.map(_as_jax, g)
        v = None if values is None else values[t]
        updates, state = opt.update(g if pk is None else pk.pack(g), state, params, **_value(v))
        params = gdtx.apply_updates(params, updates)
        out.append(jax.tree.map(np.asarray, params if pk is None else pk.unpack(params)))
    return out, state


def run_gdtx(
    opt: Any, params: Any, grads: Sequence[Any], *, jit: bool = True, values: Any = None
) -> tuple[list[Any], Any]:
    """Runs ``opt`` over the gradients; returns each step's params (NumPy) and the state
    (``values``: each step's loss, as in :func:`trajectory`)."""
    params = to_f32(params)
    state = None if jit else opt.init(params)
    return continue_run(opt, params, state, grads, jit=jit, values=values)


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
