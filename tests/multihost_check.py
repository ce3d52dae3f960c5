"""Training across several JAX processes; run by tests/test_multihost.py, one process per "host".

Each process is started by tests/process_group.py with its own
``XLA_FLAGS=--xla_force_host_platform_device_count=D`` and
``--coordinator localhost:PORT --num-processes N --process-id I``; with N = 1 the script
runs as one ordinary process (the reference). Every run builds the same 2×4 ("data",
"model") mesh over ``jax.devices()``, initialises the same parameters, trains every case of
:func:`cases` for ``STEPS`` steps on the same batches, and writes, per process,
``OUTDIR/{run}.{N}x{D}.p{I}.npz`` (every case's final parameters and optimizer state,
gathered whole) and ``.json`` (what the process saw locally). Usage::

    python tests/multihost_check.py OUTDIR RUN [RUN ...] [--coordinator HOST:PORT
        --num-processes N --process-id I]

Runs: ``train`` (every case; with N > 1 it also saves an Orbax checkpoint of every case
after ``CHECKPOINT_AT`` steps in ``OUTDIR/ckpt``), ``replicated`` (every case with all
parameters replicated: the unsharded computation), ``resume`` (restores the checkpoint
and runs the remaining steps; also writes ``resume-restored...npz``, what it restored),
``resume-reversed`` (the same on a mesh whose process order is reversed, so that each
process restores the shards another process wrote), ``continue`` (the remaining steps from
the checkpointed values that ``train`` also writes to ``OUTDIR/middle.npz``, without
Orbax) and ``light`` (two cases, for the 4-process group).

Nothing runs at import (pytest imports this module to collect its doctests, and the test
module reads :func:`cases`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gdtx

STEPS = 6
CHECKPOINT_AT = 3
"""The checkpoint holds every case after this many steps; a resumed run takes the rest."""
NAN_STEPS = {1: ("w", (7, 0)), 4: ("c", (0, 0))}
"""Steps (from 0) at which the ``nan`` cases get a NaN in one gradient element: w[7, 0]
lies in the second half of w's rows (the second process's shard of the "data" axis),
c[0, 0] in the first half of c's columns (the first process's)."""
SHAPES = {"w": (8, 16), "b": (16,), "r": (3,), "s": (2, 3), "c": (16, 8)}
SPECS: dict[str, tuple[str | None, ...]] = {
    "w": ("data", "model"),
    "b": ("model",),
    "r": (),
    "s": (),
    "c": ("model", "data"),
}
"""w and c are split across both processes (w's rows and c's columns over "data"); b is
split over "model" only (each process holds all of it), r and s are replicated."""
BATCH = 16
_T0 = time.monotonic()


def log(message: str) -> None:
    """A line on stderr with the seconds since the start (shown when a test fails)."""
    now, cpu = time.monotonic() - _T0, time.process_time()
    print(f"[{now:6.2f} s, CPU {cpu:5.2f} s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Case:
    """An optimizer to train, with what the tests check on it."""

    make: Callable[[], Any]
    packed: bool = False  # train on gdtx.packing's buffers instead of the tree
    nan: bool = False  # NaN gradient elements at NAN_STEPS
    unsharded: bool = False  # also run with replicated parameters (the ``replicated`` run)
    rtol: float = 1e-5  # results of different layouts differ by float32 rounding: at most
    # rtol · max|x| in every leaf x


def _clip_adamw() -> Any:
    return gdtx.chain(gdtx.clip_by_global_norm(1.0), gdtx.adamw(1e-2, weight_decay=0.1))


def cases() -> dict[str, Case]:
    """The cases, by name: Muon and Adafactor per-leaf and packed, whose per-matrix
    statistics must be those of the whole matrix, not of one process's shard."""
    out = {
        "clip+adamw": Case(_clip_adamw, unsharded=True),
        "groups+accumulate+finite": Case(
            lambda: gdtx.apply_if_finite(
                gdtx.partition(
                    {
                        "train": gdtx.accumulate(_clip_adamw(), every_k=2),
                        "plain": gdtx.sgd(0.05, momentum=0.9),
                    },
                    {"[wc]": "train", "[brs]": "plain"},
                )
            ),
            nan=True,
        ),
        "packed": Case(_clip_adamw, packed=True),
        "factored": Case(
            lambda: gdtx.chain(
                gdtx.clip_by_global_norm(1.0),
                gdtx.scale_by_factored_rms(min_dim_size_to_factor=1),
                gdtx.scale(-1e-2),
            ),
            unsharded=True,
        ),
    }
    matrix: dict[str, Callable[[], Any]] = {
        "muon": lambda: gdtx.muon(1e-2),
        "adafactor": lambda: gdtx.adafactor(learning_rate=1e-2),
    }
    for name, make in matrix.items():
        out[name] = Case(make, unsharded=True)
        out[f"{name}+packed"] = Case(make, packed=True)
    return out


LIGHT = ("factored",)
"""The cases of the ``light`` run (global-norm clipping and per-matrix statistics)."""


def canonical(sharding: Any) -> str:
    """A NamedSharding's PartitionSpec as a string, trailing Nones dropped."""
    from jax.sharding import PartitionSpec as P

    parts = list(sharding.spec)
    while parts and parts[-1] is None:
        parts.pop()
    return str(P(*parts))


def local_rows(sharding: Any, batch: Any) -> Any:
    """The rows of the global batch that this process's devices hold (what its data
    loader would read)."""
    starts, stops = [], []
    for index in sharding.addressable_devices_indices_map(batch.shape).values():
        rows = index[0]
        starts.append(rows.start or 0)
        stops.append(batch.shape[0] if rows.stop is None else rows.stop)
    return batch[min(starts) : max(stops)]


def global_batch(step: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(100 + step)
    x = rng.normal(size=(BATCH, 8)).astype(np.float32)
    y = rng.normal(size=(BATCH, 8)).astype(np.float32)
    return x, y


def loss_fn(p: Any, batch: Any) -> Any:
    import jax.numpy as jnp

    x, y = batch
    h = jnp.tanh(x @ p["w"] + p["b"][None, :])
    extra = jnp.sum(jnp.sin(p["r"])) + jnp.sum(p["s"] ** 2)
    return 10.0 * jnp.mean((h @ p["c"] - y) ** 2) + extra


def train_step(opt: Any, pk: Any, params: Any, state: Any, batch: Any, nan_code: Any) -> Any:
    """One step; also returns the gradient and its global norm. ``nan_code`` k > 0 puts a
    NaN in the gradient element named by the k-th entry of NAN_STEPS."""
    import jax
    import jax.numpy as jnp

    def loss(p: Any) -> Any:
        return loss_fn(p if pk is None else pk.unpack(p), batch)

    grads = jax.grad(loss)(params)
    if pk is None:
        # A mask, not ``.at[index].add``: on jax 0.10.2's CPU backend, a scatter into
        # this matmul gradient followed by adding w gave wrong gradients on the 2×4
        # mesh (in one process as in two).
        for k, (name, index) in enumerate(NAN_STEPS.values(), start=1):
            g = grads[name]
            hit = nan_code == k
            for axis, i in enumerate(index):
                hit = hit & (jax.lax.broadcasted_iota(jnp.int32, g.shape, axis) == i)
            grads[name] = jnp.where(hit, jnp.float32(jnp.nan), g)
    updates, state = opt.update(grads, state, params)
    return gdtx.apply_updates(params, updates), state, grads, gdtx.global_norm(grads)


def held(tree: Any) -> list[Any]:
    """Each distinct part of every leaf that this process holds (a replicated part once)."""
    import jax
    import numpy as np

    out = []
    for x in jax.tree.leaves(tree):
        parts = {str(s.index): s.data for s in x.addressable_shards}
        out += [np.asarray(d) for d in parts.values()]
    return out


class Runner:
    """Builds the mesh, the parameters and the jitted step of one run."""

    def __init__(self, *, replicated: bool = False, reversed_mesh: bool = False) -> None:
        import jax
        import numpy as np
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
        if reversed_mesh:  # the last process's devices first: every shard changes process
            devices = sorted(devices, key=lambda d: -d.process_index)
        # README: mesh
        mesh = jax.sharding.Mesh(np.array(devices).reshape(2, 4), ("data", "model"))
        # README: end
        self.mesh = mesh
        shardings = {
            k: NamedSharding(mesh, P() if replicated else P(*spec)) for k, spec in SPECS.items()
        }
        self.batch_sharding = NamedSharding(mesh, P("data"))

        def init_params(key: Any) -> dict[str, Any]:
            return {
                k: jax.random.normal(jax.random.fold_in(key, i), shape)
                for i, (k, shape) in enumerate(SHAPES.items())
            }

        # README: params
        params = jax.jit(init_params, out_shardings=shardings)(jax.random.key(0))
        # README: end
        self.params = params
        self.step = jax.jit(train_step)

    def batch(self, step: int) -> tuple[Any, Any]:
        """The step's batch as global arrays, built from each process's own rows."""
        import jax

        x, y = global_batch(step)
        sharding = self.batch_sharding
        # README: batch
        x = jax.make_array_from_process_local_data(sharding, local_rows(sharding, x))
        y = jax.make_array_from_process_local_data(sharding, local_rows(sharding, y))
        # README: end
        return x, y

    def start(self, case: Case) -> tuple[Any, Any, Any, Any]:
        """The optimizer, the packing (or None), the parameters and the initial state."""
        import jax

        opt = case.make()
        pk = gdtx.packing(self.params, opt) if case.packed else None
        params = self.params if pk is None else pk.pack(self.params)
        # README: state
        state = jax.jit(opt.init)(params)
        # README: end
        return opt, pk, params, state


def want_by_shape(params: Any) -> dict[tuple[int, ...], str]:
    import jax

    return {x.shape: canonical(x.sharding) for x in jax.tree.leaves(params)}


def check_shardings(state: Any, want: dict[tuple[int, ...], str]) -> dict[str, Any]:
    """Every state leaf with a parameter's (or packed buffer's) shape has its sharding."""
    import jax

    bad, checked = [], 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if leaf.shape in want and leaf.shape != ():
            checked += 1
            if canonical(leaf.sharding) != want[leaf.shape]:
                got = canonical(leaf.sharding)
                bad.append(f"{jax.tree_util.keystr(path)}: {got}, want {want[leaf.shape]}")
    return {"checked": checked, "bad": bad}


def train(runner: Runner, case: Case, start: Any, first: int) -> tuple[Any, dict]:
    """Runs steps ``first`` .. STEPS - 1 from ``start`` = (opt, pk, params, state);
    returns the final (params, state), the state after CHECKPOINT_AT steps (when the run
    passes it), the first step's gradient, and what this process saw."""
    import numpy as np

    opt, pk, params, state = start
    want = want_by_shape(params)
    seen: dict[str, Any] = {"init_shardings": check_shardings(state, want)}
    if pk is not None:
        seen["buffers"] = [
            {"shape": list(x.shape), "sharding": canonical(x.sharding), "whole": b.whole}
            for b, x in zip(pk.layout.buffers, params.buffers, strict=True)
        ]
    steps = seen["steps"] = []
    middle = first_grads = None
    for t in range(first, STEPS):
        if t == CHECKPOINT_AT:
            middle = {"params": params, "state": state}
        code = list(NAN_STEPS).index(t) + 1 if case.nan and t in NAN_STEPS else 0
        before = held(params)
        params, state, grads, norm = runner.step(
            opt, pk, params, state, runner.batch(t), np.int32(code)
        )
        local_grads = held(grads)
        info: dict[str, Any] = {
            "local_nan": bool(any(np.isnan(g).any() for g in local_grads)),
            "unchanged": all(
                np.array_equal(a, b) for a, b in zip(before, held(params), strict=True)
            ),
            "norm": float(norm.addressable_data(0)),
        }
        if case.nan:
            info["skipped"] = int(state.inner.skipped.addressable_data(0))
        if t == first:  # this process's part of the first gradient's squared norm
            info["norm_held"] = float(
                np.sqrt(sum(np.sum(np.square(g, dtype=np.float64)) for g in local_grads))
            )
            first_grads = grads
        steps.append(info)
    seen["step_shardings"] = check_shardings(state, want)
    seen["params_shardings"] = check_shardings(params, want)
    return (params, state, middle, first_grads), seen


def gathered(trees: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each tree of ``{case: arrays}`` whole on every process, flat by ``case|key path``
    (one gathering program for them all)."""
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    whole = multihost_utils.process_allgather(trees, tiled=True)
    return {
        name: {
            f"{path[0].key}|{jax.tree_util.keystr(path[1:])}": np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
        }
        for name, tree in whole.items()
    }


def from_arrays(values: Any, like: dict[str, Any]) -> dict[str, Any]:
    """The tree ``like`` with its leaves replaced by ``values`` (from :func:`gathered`),
    placed with the leaves' shardings."""
    import jax

    def leaf(path: Any, x: Any) -> Any:
        value = values[f"{path[0].key}|{jax.tree_util.keystr(path[1:])}"]
        return jax.make_array_from_callback(x.shape, x.sharding, lambda index: value[index])

    return jax.tree_util.tree_map_with_path(leaf, like)


def run(kind: str, outdir: Path, tag: str) -> None:
    """One run (see the module docstring); writes ``{kind}.{tag}.p{I}.npz`` and ``.json``."""
    import jax
    import numpy as np

    me = jax.process_index()
    runner = Runner(replicated=kind == "replicated", reversed_mesh=kind == "resume-reversed")
    chosen = {
        k: c
        for k, c in cases().items()
        if (kind != "light" or k in LIGHT) and (kind != "replicated" or c.unsharded)
    }
    starts = {name: runner.start(case) for name, case in chosen.items()}
    first = 0
    if kind in ("resume", "resume-reversed", "continue"):
        first = CHECKPOINT_AT
        fresh = {name: {"params": p, "state": s} for name, (_, _, p, s) in starts.items()}
        if kind == "continue":  # the same values as the checkpoint's, without Orbax
            loaded = from_arrays(np.load(outdir / "middle.npz"), fresh)
        else:
            import orbax.checkpoint as ocp

            # README: restore
            target = jax.tree.map(
                lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), fresh
            )
            with ocp.StandardCheckpointer() as checkpointer:
                loaded = checkpointer.restore(outdir / "ckpt", target)
            # README: end
            log(f"{kind}: checkpoint restored")
            np.savez(outdir / f"{kind}-restored.{tag}.p{me}.npz", **gathered({"x": loaded})["x"])
        starts = {
            name: (opt, pk, loaded[name]["params"], loaded[name]["state"])
            for name, (opt, pk, _, _) in starts.items()
        }
    final, middle, seen = {}, {}, {}
    for name, case in chosen.items():
        (params, state, middle[name], grads), seen[name] = train(runner, case, starts[name], first)
        final[name] = {"params": params, "state": state, "first_grads": grads}
        log(f"{kind}: {name} done")
    if kind == "train" and jax.process_count() > 1:
        import orbax.checkpoint as ocp

        # README: save
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(outdir / "ckpt", middle)
        # README: end
        log(f"{kind}: checkpoint saved")
    # one gathering program for everything the run writes
    whole = gathered({"final": final, "middle": middle})
    if kind == "train" and jax.process_count() > 1 and me == 0:
        np.savez(outdir / "middle.npz", **whole["middle"])
    info = {
        "process_index": me,
        "process_count": jax.process_count(),
        "devices": len(jax.devices()),
        "local_devices": len(jax.local_devices()),
        "data_rows": [
            i
            for i, row in enumerate(runner.mesh.devices)
            if any(d.process_index == me for d in row)
        ],
        "cases": seen,
    }
    np.savez(outdir / f"{kind}.{tag}.p{me}.npz", **whole["final"])
    (outdir / f"{kind}.{tag}.p{me}.json").write_text(json.dumps(info))
    log(f"{kind}: results written")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="Training across several JAX processes.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--coordinator")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    args = parser.parse_args(argv)

    import jax

    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    if args.num_processes > 1:
        # README: initialize
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
        # README: end
    log(f"{jax.process_count()} process(es), {len(jax.devices())} devices")
    tag = f"{jax.process_count()}x{len(jax.local_devices())}"
    for kind in args.runs:
        run(kind, args.outdir.resolve(), tag)


if __name__ == "__main__":
    main(sys.argv[1:])
