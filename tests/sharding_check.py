"""Sharding checks on 8 simulated CPU devices; run by tests/test_sharding.py in a subprocess.

XLA's device count is fixed when JAX starts, so this script sets it before importing
JAX and prints one JSON object with what it measured.
"""

from __future__ import annotations

import json
import os
import re
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax
import optax
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import gdtx

SPECS = {"w": P("data", "model"), "b": P("model"), "r": P(), "c": P(None, "data")}
SHAPES = {"w": (8, 16), "b": (16,), "r": (3,), "c": (5, 8)}


def canonical(spec):
    """A PartitionSpec as a string, trailing Nones dropped (P(None,) is P())."""
    parts = list(spec)
    while parts and parts[-1] is None:
        parts.pop()
    return str(P(*parts))


def specs_of(tree):
    return {k: canonical(v.sharding.spec) for k, v in tree.items()}


def moments(state):
    """Every m and v of the chain clip_by_global_norm → adam → (scale_by_adam, lr)."""
    adam_state = state.inner[1][0]
    return {"m": adam_state.m, "v": adam_state.v}


def main(kind: str) -> None:
    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(getattr(AxisType, kind),) * 2)
    jax.set_mesh(mesh)
    rng = jax.random.key(0)
    params = {
        k: jax.device_put(jax.random.normal(rng, SHAPES[k]), NamedSharding(mesh, SPECS[k]))
        for k in SHAPES
    }
    want = {k: canonical(s) for k, s in SPECS.items()}
    opt = gdtx.chain(gdtx.clip_by_global_norm(1.0), gdtx.adam(1e-3))
    out: dict[str, object] = {"kind": kind, "params": specs_of(params)}

    out["eager"] = {n: specs_of(t) for n, t in moments(opt.init(params)).items()}
    out["jit"] = {n: specs_of(t) for n, t in moments(jax.jit(opt.init)(params)).items()}
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), params
    )
    compiled = jax.jit(opt.init).lower(abstract).compile().output_shardings
    out["abstract"] = {
        n: {k: canonical(s.spec) for k, s in t.items()} for n, t in moments(compiled).items()
    }
    with jax.numpy_dtype_promotion("standard"):
        optax_state = jax.jit(optax.adam(1e-3).init)(params)
    out["optax_jit"] = specs_of(optax_state[0].mu)

    def step(p, s, g):
        updates, s = opt.update(g, s, p)
        return gdtx.apply_updates(p, updates), s

    state = opt.init(params)
    hlo = jax.jit(step).lower(params, state, params).compile().as_text()
    new_params, new_state = jax.jit(step)(params, state, params)
    out["step_params"] = specs_of(new_params)
    out["step_state"] = {n: specs_of(t) for n, t in moments(new_state).items()}
    out["all_gather"] = "all-gather" in hlo
    out["all_to_all"] = "all-to-all" in hlo
    out["all_reduce_shapes"] = re.findall(r"= (.*?) all-reduce\(", hlo)
    out["want"] = want
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
