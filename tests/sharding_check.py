"""Sharding checks on 8 simulated CPU devices; run by tests/test_sharding.py in a subprocess.

XLA's device count is fixed when JAX starts, so this script sets it before importing
JAX and prints one JSON object with what it measured. Usage:
``python tests/sharding_check.py Auto|Explicit`` (the mesh's axis type).

Every parameter has its own shape, so a state leaf with a parameter's shape belongs to
that parameter and must have its sharding; a leaf of any other shape that is a
parameter's shape after a leading axis (L-BFGS's memory of m slots per parameter) has the
parameter's sharding on the parameter's axes, the leading one replicated. Scalar state
(step counters, the plateau controller) is not checked.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import jax
import jax.numpy as jnp
import optax
import registry  # tests/registry.py (this script's folder is on sys.path)
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import gdtx

SPECS = {"w": P("data", "model"), "b": P("model"), "r": P(), "c": P(None, "data")}
SHAPES = {"w": (8, 16), "b": (16,), "r": (3,), "c": (5, 8)}
WANT_BY_SHAPE: dict[tuple[int, ...], str] = {}
WANT_STACKED: dict[tuple[int, ...], str] = {}
"""A parameter's shape → the sharding of a state leaf stacking slots of it (the leading
axis replicated), for the shapes not in :data:`WANT_BY_SHAPE`."""


def canonical(sharding: Any) -> str:
    """A sharding as a string: its PartitionSpec, trailing Nones dropped (P(None,) is P())."""
    if not isinstance(sharding, NamedSharding):
        return f"{type(sharding).__name__} on {len(sharding.device_set)} device(s)"
    parts = list(sharding.spec)
    while parts and parts[-1] is None:
        parts.pop()
    return str(P(*parts))


def optimizers() -> dict[str, Any]:
    """Each form of each algorithm of tests/registry.py that keeps a state, clipping, a mask,
    and groups with accumulation and a frozen leaf."""
    return {
        **{name: alg.make(key) for name, (alg, key) in registry.stateful_forms().items()},
        **COMPOSITES,
    }


COMPOSITES: dict[str, Any] = {
    "clip+adam": gdtx.chain(gdtx.clip_by_global_norm(1.0), gdtx.adam(1e-3)),
    "adamw+ndim_mask": gdtx.adamw(1e-3, mask=gdtx.ndim_mask()),
    "lars": gdtx.lars(0.1),
    "groups+accumulate": gdtx.partition(
        {
            "train": gdtx.accumulate(
                gdtx.chain(gdtx.clip_by_global_norm(1.0), gdtx.adamw(1e-3)), every_k=2
            ),
            "frozen": gdtx.set_to_zero(),
        },
        {"[wbc]": "train", "r": "frozen"},
    ),
    "accumulate(partition)": gdtx.accumulate(
        gdtx.partition(
            {"decay": gdtx.adamw(1e-3), "plain": gdtx.sgd(0.1, momentum=0.9)},
            {"w": "decay", "c": "decay", "[br]": "plain"},
        ),
        every_k=2,
    ),
}


def check(state: Any, shardings: Any = None) -> dict[str, Any]:
    """Compares every parameter-shaped state leaf's sharding with its parameter's.

    ``shardings`` (a tree like ``state``) replaces the leaves' own shardings, for
    abstract states.
    """
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    if shardings is None:
        found = [leaf.sharding for _, leaf in leaves]
    else:
        found = jax.tree.leaves(shardings, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding))
    bad, checked = [], 0
    for (path, leaf), sharding in zip(leaves, found, strict=True):
        if leaf.shape == ():
            continue
        want = WANT_BY_SHAPE.get(leaf.shape) or WANT_STACKED[leaf.shape[1:]]
        got = canonical(sharding)
        checked += 1
        if got != want:
            bad.append(f"{jax.tree_util.keystr(path)}: {got}, want {want}")
    shapes = [leaf.shape for _, leaf in leaves]
    return {"bad": bad, "checked": checked, "frozen_leaves": shapes.count(SHAPES["r"])}


def statistics_shardings(mesh: Any) -> dict[tuple[int, ...], str]:
    """Per-matrix state (SM3's row and column accumulators): the statistics of a matrix's
    rows are sharded as its rows, those of its columns as its columns. Each shape must
    mean one sharding, among them and the parameters'."""
    want: dict[tuple[int, ...], str] = {}
    for k, shape in SHAPES.items():
        if len(shape) != 2:
            continue
        spec = tuple(SPECS[k]) + (None,) * (2 - len(tuple(SPECS[k])))
        for axis in (0, 1):
            got = canonical(NamedSharding(mesh, P(spec[axis])))
            key = (shape[axis],)
            assert WANT_BY_SHAPE.get(key, want.get(key, got)) == got, (k, axis)
            want[key] = got
    return want


def collectives(hlo: str) -> dict[str, Any]:
    """The communication in a compiled program's HLO text."""
    return {
        "all_gather": len(re.findall(r"all-gather(-start)?\(", hlo)),
        "all_to_all": len(re.findall(r"all-to-all\(", hlo)),
        "collective_permute": len(re.findall(r"collective-permute(-start)?\(", hlo)),
        "reduce_scatter": len(re.findall(r"reduce-scatter\(", hlo)),
        "all_reduce_shapes": re.findall(r"= (.*?) all-reduce(?:-start)?\(", hlo),
    }


def optax_without_mesh_context(params: Any) -> str:
    """Where Optax's jitted init puts Adam's m, with no mesh context set."""
    try:
        with jax.numpy_dtype_promotion("standard"):
            state = jax.jit(optax.adam(1e-3).init)(params)
    except Exception as err:  # Explicit mesh axes: Optax's init does not even trace
        return f"error: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
    return ", ".join(sorted({canonical(x.sharding) for x in jax.tree.leaves(state[0].mu)}))


def main(kind: str) -> None:
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(getattr(AxisType, kind),) * 2)
    rng = jax.random.key(0)
    params = {
        k: jax.device_put(jax.random.normal(rng, SHAPES[k]), NamedSharding(mesh, SPECS[k]))
        for k in SHAPES
    }
    # Per-matrix statistics (Adafactor's rows and columns) follow their matrix's axes: a
    # (r, c) leaf sharded P(x, y) has rows (r,) on P(x) and columns (c,) on P(y). Here no
    # such shape clashes with a parameter's own.
    for k, shape in SHAPES.items():
        if len(shape) == 2:
            rows, cols = (*tuple(SPECS[k]), None, None)[:2]
            WANT_BY_SHAPE[shape[:1]] = canonical(NamedSharding(mesh, P(rows)))
            WANT_BY_SHAPE.setdefault(shape[1:], canonical(NamedSharding(mesh, P(cols))))
    WANT_BY_SHAPE.update({SHAPES[k]: canonical(NamedSharding(mesh, SPECS[k])) for k in SHAPES})
    WANT_BY_SHAPE.update(statistics_shardings(mesh))
    WANT_STACKED.update(
        {SHAPES[k]: canonical(NamedSharding(mesh, P(None, *SPECS[k]))) for k in SHAPES}
    )
    WANT_STACKED[()] = canonical(NamedSharding(mesh, P()))  # a scalar per slot: replicated
    out: dict[str, Any] = {"kind": kind, "devices": len(jax.devices())}
    out["params"] = check(params)

    # Optax, for comparison: with no mesh context, and then inside one.
    out["optax_jit_no_context"] = optax_without_mesh_context(params)
    jax.set_mesh(mesh)
    with jax.numpy_dtype_promotion("standard"):
        optax_state = jax.jit(optax.adam(1e-3).init)(params)
    out["optax_jit"] = sorted({canonical(x.sharding) for x in jax.tree.leaves(optax_state[0].mu)})

    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), params
    )
    out["init"] = {}
    for name, opt in optimizers().items():
        res = {
            "eager": check(opt.init(params)),
            "jit": check(jax.jit(opt.init)(params)),
            "abstract_compiled": check(
                jax.eval_shape(opt.init, abstract),
                jax.jit(opt.init).lower(abstract).compile().output_shardings,
            ),
        }
        if kind == "Explicit":  # abstract shapes carry their shardings on Explicit axes
            res["abstract_eval_shape"] = check(jax.eval_shape(opt.init, abstract))
        out["init"][name] = res

    out["step"] = {}
    for name in ("clip+adam", "lars", "groups+accumulate"):
        opt = optimizers()[name]

        def step(p: Any, s: Any, g: Any, opt: Any = opt) -> Any:
            updates, s = opt.update(g, s, p)
            return gdtx.apply_updates(p, updates), s

        state = jax.jit(opt.init)(params)
        compiled = jax.jit(step).lower(params, state, params).compile()
        new_params, new_state = compiled(params, state, params)
        new_params, new_state = compiled(new_params, new_state, params)
        out["step"][name] = {
            "params": check(new_params),
            "state": check(new_state),
            **collectives(compiled.as_text()),
        }
    out["packed"] = packed(mesh)
    print(json.dumps(out))


def packed(mesh: Any) -> dict[str, Any]:
    """Packing sharded parameters: leaves partitioned across devices stay whole (their own
    buffer, shape and sharding); replicated leaves are concatenated into one replicated
    buffer. The state follows, and a training step gathers nothing."""
    specs = {"w": P("data", "model"), "b": P("model"), "r1": P(), "r2": P()}
    shapes = {"w": (8, 16), "b": (16,), "r1": (3,), "r2": (2, 3)}
    key = jax.random.key(1)
    params = {
        k: jax.device_put(jax.random.normal(key, shapes[k]), NamedSharding(mesh, specs[k]))
        for k in shapes
    }
    opt = gdtx.adam(1e-3)
    pk = gdtx.packing(params, opt)
    flat = pk.pack(params)
    buffers = [
        {"whole": b.whole, "shape": list(b.shape), "sharding": canonical(x.sharding)}
        for b, x in zip(pk.layout.buffers, flat.buffers, strict=True)
    ]
    state = jax.jit(opt.init)(flat)
    moments = [
        canonical(x.sharding)
        for name in ("m", "v")
        for x in optax.tree_utils.tree_get(state, name).buffers
    ]

    def train_step(pk: Any, flat: Any, state: Any) -> Any:
        loss = lambda f: sum(jnp.sum(jnp.sin(x)) for x in jax.tree.leaves(pk.unpack(f)))  # noqa: E731
        grads = jax.grad(loss)(flat)
        updates, state = opt.update(grads, state, flat)
        return gdtx.apply_updates(flat, updates), state

    compiled = jax.jit(train_step).lower(pk, flat, state).compile()
    new_flat, new_state = compiled(pk, flat, state)
    new_flat, new_state = compiled(pk, new_flat, new_state)
    return {
        "buffers": buffers,
        "moments": moments,
        "after_step": [canonical(x.sharding) for x in new_flat.buffers],
        "values_match": bool(
            all(
                jnp.allclose(a, b)
                for a, b in zip(
                    jax.tree.leaves(pk.unpack(flat)), jax.tree.leaves(params), strict=True
                )
            )
        ),
        **collectives(compiled.as_text()),
    }


if __name__ == "__main__":
    main(sys.argv[1])
