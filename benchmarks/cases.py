"""What benchmarks/run.py times: optimizer steps and training steps, per library.

Each builder compiles its step and returns a ``Stepper``: a callable that runs one
step on device-resident state and waits for it. Steppers of one case are timed
together, interleaved, by run.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import gdtx

ALGORITHMS = ("sgd_momentum", "rmsprop", "adam")
# Arrays an algorithm's step must read and write per parameter: (reads, writes).
TRAFFIC = {"sgd_momentum": (3, 2), "rmsprop": (3, 2), "adam": (4, 3)}
LR = 1e-3


class Stepper:
    """One compiled step and its state; calling it runs a step and waits for it."""

    def __init__(self, compile_s: float, run: Callable[[], None]) -> None:
        self.compile_s = compile_s
        self._run = run

    def __call__(self) -> None:
        self._run()


def optimizer(library: Any, name: str) -> Any:
    """``name`` from ``library`` (the gdtx or the optax module): the arguments match."""
    return {
        "sgd_momentum": lambda: library.sgd(LR, momentum=0.9),
        "rmsprop": lambda: library.rmsprop(LR, decay=0.99, eps=1e-8, eps_in_sqrt=False),
        "adam": lambda: library.adam(LR),
    }[name]()


def make_tree(leaves: int, size: int, seed: int) -> list[jax.Array]:
    keys = jax.random.split(jax.random.key(seed), leaves)
    return [jax.random.normal(k, (size,), jnp.float32) for k in keys]


def jax_stepper(fn: Callable[..., Any], carry: tuple, fixed: tuple, donate: tuple) -> Stepper:
    """Compiles ``fn(*carry, *fixed) -> carry`` with the carry donated."""
    jitted = jax.jit(fn, donate_argnums=donate)
    t0 = time.perf_counter()
    compiled = jitted.lower(*carry, *fixed).compile()
    compile_s = time.perf_counter() - t0
    box = [carry]

    def run() -> None:
        box[0] = compiled(*box[0], *fixed)
        jax.block_until_ready(box[0])

    return Stepper(compile_s, run)


# ---------------------------------------------------------------------------------------
# Optimizer steps


def floor(algorithm: str, leaves: int, size: int) -> Stepper:
    """The memory floor: one flat buffer per array the algorithm must move; the step
    reads ``reads`` of them and writes ``writes`` (donated), with trivial arithmetic."""
    reads, writes = TRAFFIC[algorithm]
    n = leaves * size
    state = tuple(jnp.full((n,), 0.5 + i, jnp.float32) for i in range(writes))
    g = jnp.full((n,), 0.25, jnp.float32)

    def kernel(*arrays: jax.Array) -> tuple[jax.Array, ...]:
        *state, g = arrays
        return tuple(s * 0.999 + g * 1e-3 for s in state)

    assert reads == writes + 1
    return jax_stepper(kernel, state, (g,), tuple(range(writes)))


def optimizer_step(opt: Any, params: Any, grads: Any) -> Stepper:
    """``params ← params + update(grads)``, params and state donated, grads reused."""
    state = opt.init(params)

    def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax_stepper(step, (params, state), (grads,), (0, 1))


def tree_optimizer(opt: Any, leaves: int, size: int) -> Stepper:
    return optimizer_step(opt, make_tree(leaves, size, 0), make_tree(leaves, size, 1))


def packed_optimizer(opt: Any, leaves: int, size: int) -> Stepper:
    """The optimizer on packed parameters and packed gradients (as a packed training
    step hands them over)."""
    params = make_tree(leaves, size, 0)
    pk = gdtx.packing(params, opt)
    return optimizer_step(opt, pk.pack(params), pk.pack(make_tree(leaves, size, 1)))


def torch_optimizer(algorithm: str, variant: str, leaves: int, size: int) -> Stepper | None:
    import torch

    params = [torch.nn.Parameter(torch.randn(size)) for _ in range(leaves)]
    for p in params:
        p.grad = torch.randn(size)
    kwargs = {
        "for-loop": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }
    flags = kwargs[variant]
    make = {
        "sgd_momentum": lambda: torch.optim.SGD(params, lr=LR, momentum=0.9, **flags),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=LR, **flags),
        "adam": lambda: torch.optim.Adam(params, lr=LR, **flags),
    }[algorithm]
    try:
        opt = make()
        opt.step()
    except (TypeError, RuntimeError):
        return None  # this torch build has no such variant (e.g. fused RMSprop on CPU)
    return Stepper(0.0, opt.step)


# ---------------------------------------------------------------------------------------
# Training steps of many-leaf models


def mlp(layers: int, width: int, batch: int) -> tuple[Any, Callable[[Any], jax.Array]]:
    """A deep tanh MLP: ``layers`` × (w, b), so 2·layers parameter arrays."""
    keys = jax.random.split(jax.random.key(0), layers)
    params = [
        {"w": jax.random.normal(k, (width, width)) / np.sqrt(width), "b": jnp.zeros(width)}
        for k in keys
    ]
    x = jax.random.normal(jax.random.key(1), (batch, width))
    y = jax.random.normal(jax.random.key(2), (batch, width))

    def loss(params: Any) -> jax.Array:
        h = x
        for layer in params:
            h = jnp.tanh(h @ layer["w"] + layer["b"][None, :])
        return jnp.mean((h - y) ** 2)

    return params, loss


def transformer(blocks: int, dim: int, seq: int, batch: int) -> tuple[Any, Callable]:
    """A pre-norm transformer encoder: 16 parameter arrays per block (two layer norms,
    query/key/value/output projections and a two-layer MLP, each with a bias)."""
    keys = iter(jax.random.split(jax.random.key(0), 6 * blocks + 2))

    def dense(n_in: int, n_out: int) -> dict[str, jax.Array]:
        return {
            "kernel": jax.random.normal(next(keys), (n_in, n_out)) / np.sqrt(n_in),
            "bias": jnp.zeros(n_out),
        }

    def norm() -> dict[str, jax.Array]:
        return {"scale": jnp.ones(dim), "bias": jnp.zeros(dim)}

    params = [
        {
            "ln1": norm(),
            "q": dense(dim, dim),
            "k": dense(dim, dim),
            "v": dense(dim, dim),
            "o": dense(dim, dim),
            "ln2": norm(),
            "up": dense(dim, 4 * dim),
            "down": dense(4 * dim, dim),
        }
        for _ in range(blocks)
    ]
    x = jax.random.normal(next(keys), (batch, seq, dim))
    y = jax.random.normal(next(keys), (batch, seq, dim))
    heads = 4

    def layer_norm(p: Any, h: jax.Array) -> jax.Array:
        mu = h.mean(-1, keepdims=True)
        var = ((h - mu) ** 2).mean(-1, keepdims=True)
        return (h - mu) * jax.lax.rsqrt(var + 1e-5) * p["scale"] + p["bias"]

    def apply(p: Any, h: jax.Array) -> jax.Array:
        return h @ p["kernel"] + p["bias"]

    def loss(params: Any) -> jax.Array:
        h = x
        for blk in params:
            a = layer_norm(blk["ln1"], h)
            q, k, v = (apply(blk[n], a).reshape(batch, seq, heads, -1) for n in "qkv")
            w = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(dim // heads))
            att = jnp.einsum("bhqk,bkhd->bqhd", w, v).reshape(batch, seq, dim)
            h = h + apply(blk["o"], att)
            h = h + apply(blk["down"], jax.nn.gelu(apply(blk["up"], layer_norm(blk["ln2"], h))))
        return jnp.mean((h - y) ** 2)

    return params, loss


def training_step(opt: Any, params: Any, loss: Callable, packed: bool) -> Stepper:
    """One step: gradient of the loss, then the optimizer, then the new parameters.

    ``opt=None`` (packed only) is the training step's floor: the gradient and a plain
    ``θ ← θ − αg`` on the packed buffers, with no optimizer state.
    """
    params = jax.tree.map(jnp.copy, params)
    if opt is None:
        pk = gdtx.packing(params)

        def sgd_step(flat: Any, pk: Any) -> tuple[Any]:
            grads = jax.grad(lambda f: loss(pk.unpack(f)))(flat)
            return (jax.tree.map(lambda p, g: p - LR * g, flat, grads),)

        return jax_stepper(sgd_step, (pk.pack(params),), (pk,), (0,))
    if not packed:

        def step(params: Any, state: Any) -> tuple[Any, Any]:
            grads = jax.grad(loss)(params)
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        return jax_stepper(step, (params, opt.init(params)), (), (0, 1))

    pk = gdtx.packing(params, opt)
    flat = pk.pack(params)

    def packed_step(flat: Any, state: Any, pk: Any) -> tuple[Any, Any]:
        grads = jax.grad(lambda f: loss(pk.unpack(f)))(flat)
        updates, state = opt.update(grads, state, flat)
        return gdtx.apply_updates(flat, updates), state

    return jax_stepper(packed_step, (flat, opt.init(flat)), (pk,), (0, 1))


# ---------------------------------------------------------------------------------------
# Matrix optimizers (Muon, Adafactor) on a transformer-shaped tree

MATRIX_ALGORITHMS = ("muon", "adafactor", "sm3")
MATRIX_TRAFFIC = {"muon": (3, 2), "adafactor": (5, 1), "sm3": (3, 2)}
"""Arrays read and written per parameter. Muon: θ, m, g → θ, m, in one pass. SM3 (with
Optax's momentum): the same, its row and column maxima r + c numbers per matrix. Adafactor
needs three dependent passes: g and θ for the row and column means of g² and rms(θ); g
again for rms(U) of the update U = g/√V̂, which needs those means; g and θ a third time
for θ ← θ − α·max(ε₂, rms(θ))·U/max(1, rms(U)/d), which needs rms(U). Its row and column
statistics are r + c numbers per matrix: negligible."""
MIN_DIM_TO_FACTOR = 8
"""Adafactor factors every matrix of the benchmark's trees (Optax's default, 128, would
factor none of the smaller ones)."""


def matrix_optimizer_of(library: Any, name: str, **options: Any) -> Any:
    """Muon, Adafactor or SM3 from gdtx or Optax, with the same arguments (and gdtx's own
    ``options``, e.g. Muon's ``ns_method``)."""
    if name == "muon":
        return library.contrib.muon(LR) if library is optax else library.muon(LR, **options)
    if name == "sm3":
        return library.sm3(LR)
    return library.adafactor(LR, min_dim_size_to_factor=MIN_DIM_TO_FACTOR)


def matrix_tree(blocks: int, dim: int) -> Any:
    """The parameters of :func:`transformer` (q, k, v, o, MLP in and out: each a kernel and
    a bias; two layer norms), ``blocks`` blocks of width ``dim``."""
    return transformer(blocks, dim, seq=1, batch=1)[0]


def matrix_step(opt: Any, params: Any, packed: bool) -> Stepper:
    """One optimizer step on the tree (per-leaf) or on its packed buffers."""
    params = jax.tree.map(jnp.copy, params)
    keys = iter(jax.random.split(jax.random.key(7), len(jax.tree.leaves(params))))
    grads = jax.tree.map(lambda p: jax.random.normal(next(keys), p.shape, p.dtype), params)
    if not packed:
        return optimizer_step(opt, params, grads)
    pk = gdtx.packing(params, opt)
    return optimizer_step(opt, pk.pack(params), pk.pack(grads))


def matrix_floor(algorithm: str, params: Any) -> Stepper:
    """The bytes floor of the step: the reads and writes of :data:`MATRIX_TRAFFIC` over the
    tree's number of floats, in as many dependent passes as the algorithm needs."""
    n = sum(int(np.size(x)) for x in jax.tree.leaves(params))
    g = jnp.full((n,), 0.25, jnp.float32)
    if algorithm == "adafactor":

        def passes(theta: jax.Array, g: jax.Array) -> tuple[jax.Array]:
            first = jnp.mean(theta * g)  # g, θ: the statistics
            second = jnp.mean(jnp.abs(g - first))  # g: the update's RMS (needs the first)
            return (theta * 0.999 + g * second * 1e-3,)  # g, θ → θ (needs the second)

        return jax_stepper(passes, (jnp.full((n,), 0.5, jnp.float32),), (g,), (0,))
    reads, writes = MATRIX_TRAFFIC[algorithm]
    state = tuple(jnp.full((n,), 0.5 + i, jnp.float32) for i in range(writes))

    def kernel(*arrays: jax.Array) -> tuple[jax.Array, ...]:
        *state, g = arrays
        return tuple(s * 0.999 + g * 1e-3 for s in state)

    assert reads == writes + 1
    return jax_stepper(kernel, state, (g,), tuple(range(writes)))


def torch_matrix_optimizer(algorithm: str, variant: str, params: Any) -> Stepper | None:
    """torch's Muon (the 2-d leaves; AdamW for the others, as torch's documentation
    arranges it) or Adafactor, on tensors of the tree's shapes; ``None`` for SM3, which
    torch lacks."""
    import torch

    if algorithm == "sm3":
        return None
    tensors = [torch.nn.Parameter(torch.randn(*x.shape)) for x in jax.tree.leaves(params)]
    for p in tensors:
        p.grad = torch.randn(*p.shape)
    foreach = variant == "foreach"
    try:
        if algorithm == "muon":
            if foreach:
                return None  # torch's Muon has no foreach implementation
            matrices = [p for p in tensors if p.ndim == 2]
            others = [p for p in tensors if p.ndim != 2]
            opts = [
                torch.optim.Muon(matrices, lr=LR),
                torch.optim.AdamW(others, lr=LR, foreach=False),
            ]
        else:
            opts = [torch.optim.Adafactor(tensors, lr=LR, foreach=foreach)]
        for o in opts:
            o.step()
    except (TypeError, RuntimeError):
        return None

    def run() -> None:
        for o in opts:
            o.step()

    return Stepper(0.0, run)
