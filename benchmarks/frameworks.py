"""Training steps of Flax NNX and Equinox models, by loop: what run.py --frameworks times.

Every loop trains the same model (same initial values, same batch) with Adam:

- ``idiomatic``: the framework's own loop with Optax, as its documentation shows it
  (``nnx.Optimizer`` under ``nnx.jit``; ``eqx.filter_jit`` with ``eqx.filter_value_and_grad``);
- ``functional``: the model split into arrays and the rest (``nnx.split``/``nnx.merge``,
  ``eqx.partition``/``eqx.combine``), the step a ``jax.jit`` over the arrays with
  buffer donation, Optax's Adam per leaf;
- ``per-leaf``: the same functional loop with gdtx's Adam;
- ``packed``: gdtx's integration (``gdtx.nnx.train_step``, ``gdtx.equinox.train_step``);
- the floor, ``grad+sgd``: the gradient with respect to packed buffers and a plain
  θ ← θ − αg on them, with no optimizer state, which bounds any optimizer from below.

A step's compile time is its first call: tracing, compiling and one step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cases
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gdtx
import gdtx.equinox
import gdtx.nnx

LR = cases.LR
VARIANTS = [  # (library, variant), in table order
    ("floor", "grad+sgd"),
    ("gdtx", "packed"),
    ("gdtx", "per-leaf"),
    ("optax", "functional"),
    ("optax", "idiomatic"),
]


# ---------------------------------------------------------------------------------------
# Models


class NnxMLP(nnx.Module):
    def __init__(self, layers: int, width: int, rngs: nnx.Rngs) -> None:
        self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(layers)])

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = jnp.tanh(layer(x))
        return x


class NnxBlock(nnx.Module):
    """A pre-norm transformer block: attention projections, a two-layer MLP, two
    LayerNorms (16 parameter arrays)."""

    def __init__(self, dim: int, heads: int, rngs: nnx.Rngs) -> None:
        self.heads = heads
        self.ln1 = nnx.LayerNorm(dim, rngs=rngs)
        self.q = nnx.Linear(dim, dim, rngs=rngs)
        self.k = nnx.Linear(dim, dim, rngs=rngs)
        self.v = nnx.Linear(dim, dim, rngs=rngs)
        self.o = nnx.Linear(dim, dim, rngs=rngs)
        self.ln2 = nnx.LayerNorm(dim, rngs=rngs)
        self.up = nnx.Linear(dim, 4 * dim, rngs=rngs)
        self.down = nnx.Linear(4 * dim, dim, rngs=rngs)

    def __call__(self, h: jax.Array) -> jax.Array:
        b, s, d = h.shape
        a = self.ln1(h)
        q, k, v = (f(a).reshape(b, s, self.heads, -1) for f in (self.q, self.k, self.v))
        w = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(d // self.heads))
        h = h + self.o(jnp.einsum("bhqk,bkhd->bqhd", w, v).reshape(b, s, d))
        return h + self.down(jax.nn.gelu(self.up(self.ln2(h))))


class NnxTransformer(nnx.Module):
    def __init__(self, blocks: int, dim: int, rngs: nnx.Rngs) -> None:
        self.blocks = nnx.List([NnxBlock(dim, 4, rngs) for _ in range(blocks)])

    def __call__(self, h: jax.Array) -> jax.Array:
        for block in self.blocks:
            h = block(h)
        return h


def eqx_mlp(layers: int, width: int) -> Any:
    keys = jax.random.split(jax.random.key(0), layers)
    return [eqx.nn.Linear(width, width, key=k) for k in keys]


def apply_eqx_mlp(model: Any, x: jax.Array) -> jax.Array:
    for layer in model:
        x = jnp.tanh(jax.vmap(layer)(x))
    return x


def model_case(name: str, size: str) -> tuple[Callable[[], Any], Callable, tuple]:
    """(make the model, loss(model, x, y), (x, y)) of a benchmark model.

    ``size``: "full" (the issue's shapes: 128 layers of 32×32, batch 16; 16
    transformer blocks of width 32, 8 tokens, batch 4), "quick" or "smoke".
    """
    layers = {"full": 128, "quick": 32, "smoke": 3}[size]
    blocks = {"full": 16, "quick": 4, "smoke": 1}[size]
    width, batch = (32, 16) if size != "smoke" else (8, 4)
    rng = np.random.default_rng(0)

    def mse(out: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean((out - y) ** 2)

    if name == "nnx_mlp":
        x, y = (jnp.asarray(rng.normal(size=(batch, width)), jnp.float32) for _ in range(2))
        return (lambda: NnxMLP(layers, width, nnx.Rngs(0))), (lambda m, x, y: mse(m(x), y)), (x, y)
    if name == "nnx_transformer":
        shape = (4, 8, width) if size != "smoke" else (2, 4, width)
        x, y = (jnp.asarray(rng.normal(size=shape), jnp.float32) for _ in range(2))
        make = lambda: NnxTransformer(blocks, width, nnx.Rngs(0))  # noqa: E731
        return make, (lambda m, x, y: mse(m(x), y)), (x, y)
    if name == "eqx_mlp":
        x, y = (jnp.asarray(rng.normal(size=(batch, width)), jnp.float32) for _ in range(2))
        return (
            (lambda: eqx_mlp(layers, width)),
            (lambda m, x, y: mse(apply_eqx_mlp(m, x), y)),
            (x, y),
        )
    raise ValueError(f"unknown model {name!r}")


MODELS = ("nnx_mlp", "nnx_transformer", "eqx_mlp")


def model_arrays(name: str, size: str) -> tuple[int, int]:
    """(number of trainable arrays, their mean size) of a benchmark model."""
    make, _, _ = model_case(name, size)
    params, _, _ = _split("eqx" if name.startswith("eqx") else "nnx", make())
    sizes = [int(np.size(x)) for x in jax.tree.leaves(params)]
    return len(sizes), int(np.mean(sizes))


# ---------------------------------------------------------------------------------------
# Loops


def first_call(run: Callable[[], None]) -> cases.Stepper:
    """A stepper whose compile time is its first call (trace, compile, one step)."""
    t0 = time.perf_counter()
    run()
    return cases.Stepper(time.perf_counter() - t0, run)


def variants(name: str, size: str) -> list[tuple[str, str, Callable[[], cases.Stepper]]]:
    """(library, variant, builder) for every loop over one model."""
    make, loss, batch = model_case(name, size)
    framework = "eqx" if name.startswith("eqx") else "nnx"
    out = []
    for library, variant in VARIANTS:
        build = {
            ("floor", "grad+sgd"): lambda: floor(framework, make, loss, batch),
            ("gdtx", "packed"): lambda: packed(framework, make, loss, batch),
            ("gdtx", "per-leaf"): lambda: functional(framework, gdtx.adam(LR), make, loss, batch),
            ("optax", "functional"): lambda: functional(
                framework, optax.adam(LR), make, loss, batch
            ),
            ("optax", "idiomatic"): lambda: idiomatic(framework, make, loss, batch),
        }[library, variant]
        out.append((library, variant, build))
    return out


def _split(framework: str, model: Any) -> tuple[Any, Any, Callable[[Any, Any], Any]]:
    """(trainable arrays, the rest, rebuild(arrays, rest) -> model)."""
    if framework == "nnx":
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return params, rest, lambda p, r: nnx.merge(graphdef, p, r)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    return params, None, lambda p, r: eqx.combine(p, static)


def packed(framework: str, make: Callable, loss: Callable, batch: tuple) -> cases.Stepper:
    module = gdtx.nnx if framework == "nnx" else gdtx.equinox
    box = [module.TrainState.create(make(), gdtx.adam(LR))]
    step = module.train_step(loss)

    def run() -> None:
        box[0], value = step(box[0], *batch)
        jax.block_until_ready(value)

    return first_call(run)


def floor(framework: str, make: Callable, loss: Callable, batch: tuple) -> cases.Stepper:
    params, rest, rebuild = _split(framework, make())
    pk = gdtx.packing(params)

    def sgd_step(flat: Any, pk: Any, rest: Any, x: Any, y: Any) -> Any:
        grads = jax.grad(lambda f: loss(rebuild(pk.unpack(f), rest), x, y))(flat)
        return jax.tree.map(lambda p, g: p - LR * g, flat, grads)

    jitted = jax.jit(sgd_step, donate_argnums=0)
    box = [pk.pack(params)]

    def run() -> None:
        box[0] = jitted(box[0], pk, rest, *batch)
        jax.block_until_ready(box[0])

    return first_call(run)


def functional(
    framework: str, opt: Any, make: Callable, loss: Callable, batch: tuple
) -> cases.Stepper:
    params, rest, rebuild = _split(framework, make())

    def step(params: Any, state: Any, rest: Any, x: Any, y: Any) -> tuple[Any, Any]:
        grads = jax.grad(lambda p: loss(rebuild(p, rest), x, y))(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(step, donate_argnums=(0, 1))
    box = [(params, opt.init(params))]

    def run() -> None:
        box[0] = jitted(*box[0], rest, *batch)
        jax.block_until_ready(box[0])

    return first_call(run)


def idiomatic(framework: str, make: Callable, loss: Callable, batch: tuple) -> cases.Stepper:
    model = make()
    if framework == "nnx":
        optimizer = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)

        @nnx.jit
        def nnx_step(model: Any, optimizer: Any, x: Any, y: Any) -> Any:
            value, grads = nnx.value_and_grad(lambda m: loss(m, x, y))(model)
            optimizer.update(model, grads)
            return value

        def run() -> None:
            jax.block_until_ready(nnx_step(model, optimizer, *batch))

        return first_call(run)

    opt = optax.adam(LR)

    @eqx.filter_jit  # as Equinox's documentation writes it (no donation)
    def eqx_step(model: Any, state: Any, x: Any, y: Any) -> tuple[Any, Any]:
        grads = eqx.filter_grad(lambda m: loss(m, x, y))(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state

    box = [(model, opt.init(eqx.filter(model, eqx.is_array)))]

    def run_eqx() -> None:
        box[0] = eqx_step(*box[0], *batch)
        jax.block_until_ready(box[0])

    return first_call(run_eqx)


# ---------------------------------------------------------------------------------------
# The README table


NAMES = {
    "nnx_mlp": "NNX MLP",
    "nnx_transformer": "NNX transformer",
    "eqx_mlp": "Equinox MLP",
}


def readme_table(payload: dict[str, Any]) -> str:
    """The README's table of framework loops, from run.py --frameworks's results.

    Step times in ms, each with its ratio to the packed step of the same run (the
    median of the per-round ratios), and the compile times (first call: trace,
    compile, one step); a caption names the run.
    """
    records = payload["records"]
    kind = "quick run (smaller models)" if payload.get("quick") else "full run"
    rows = [
        f"Training step with Adam, median of interleaved rounds; {kind}: {payload['machine']}.",
        "",
        "| model | floor: grad + SGD | gdtx packed | gdtx per-leaf | Optax functional "
        "| Optax idiomatic | compile s: packed / Optax functional / idiomatic |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in [m for m in MODELS if any(r.get("model") == m for r in records)]:
        mine = {
            (r["library"], r["variant"]): r
            for r in records
            if r.get("case") == "framework-step" and r["model"] == model
        }
        base = mine["gdtx", "packed"]
        cells = [
            f"{1e3 * mine[key]['step_s']:.2f} ms ({paired(mine[key], base):.2f}×)"
            for key in VARIANTS
        ]
        compiles = " / ".join(
            f"{mine[k]['compile_s']:.1f}"
            for k in [("gdtx", "packed"), ("optax", "functional"), ("optax", "idiomatic")]
        )
        label = f"{NAMES[model]}, {base['leaves']} arrays"
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {compiles} |")
    return "\n".join(rows)


def paired(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Median over rounds of a's step time over b's in the same round."""
    ratios = [x / y for x, y in zip(a["round_step_s"], b["round_step_s"], strict=True)]
    return float(np.median(ratios))
