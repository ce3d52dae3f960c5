"""The algorithms the tests exercise: one table, one entry per algorithm.

Every test module that loops over algorithms draws its cases from :data:`ALGORITHMS`:

- test_vs_reference.py: every case (``default`` and each variant) against the float64
  NumPy reference of tests/reference.py, in float32 over 120 random steps;
- test_vs_optax.py: the cases paired with an Optax twin (``optax``), same inputs;
- test_vs_torch.py: the ``torch`` cases, recorded in tests/data/torch_trajectories.npz by
  tests/torch_reference/record.py (which takes its configurations from here), replayed
  and re-run live when PyTorch is installed; ``torch_net``: 004's network;
- test_dtypes.py: each of ``forms`` in every dtype of ``dtypes``, and every case in
  float64 against the reference;
- test_convergence.py: ``converges``, each run to a tolerance on its problem;
- test_protocol.py, test_reliability.py, test_sharding.py (sharding_check.py) and
  test_packing.py: each of ``forms``, the configurations whose states differ.

An algorithm whose ``update`` reads the loss (``needs_value``) runs through the same
tables, given :data:`VALUES` step by step (the convergence runs: f(x)).

A new algorithm is one :class:`Algorithm` entry here plus its reference class in
tests/reference.py. Arguments are written once (:class:`Args`) and built for gdtx, the
reference and Optax alike; a schedule is written ``S.name(...)`` and built from the same
name in whichever library the case runs in.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import reference as ref
import reference_cat_adam as ref_adam
import reference_cat_contrib as refc
import reference_cat_layer as ref_layer
import reference_cat_matrix as ref_matrix
import reference_cat_simple as refs
import reference_lbfgs as ref_lbfgs
from helpers import gradient_sequence, random_tree, stack_trees, to_f32, trajectory

import gdtx

# ---------------------------------------------------------------------------------------
# Arguments written once for every library


@dataclasses.dataclass(frozen=True)
class Sched:
    """A schedule by name and arguments, built as ``gdtx.name(...)``, ``ref.name(...)`` or
    ``optax.name(...)``."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]

    def build(self, lib: Any) -> Any:
        return getattr(lib, self.name)(*self.args, **dict(self.kwargs))

    def __repr__(self) -> str:
        return f"{self.name}({_format(self.args, dict(self.kwargs))})"


@dataclasses.dataclass(frozen=True)
class MinNdim:
    """A mask selecting the leaves of at least ``ndim`` dimensions, built per library:
    ``gdtx.ndim_mask(ndim)`` for gdtx, a predicate of the NumPy leaf for the reference
    (which runs no gdtx code)."""

    ndim: int

    def build(self, lib: Any) -> Any:
        if lib is gdtx:
            return gdtx.ndim_mask(self.ndim)
        if lib is ref:
            return lambda p: p.ndim >= self.ndim
        raise ValueError(f"MinNdim({self.ndim}) has no form in {lib.__name__}")

    def __repr__(self) -> str:
        return f"ndim_mask({self.ndim})"


class _Schedules:
    """``S.exponential_decay(0.03, 10, 0.8)``: a :class:`Sched`."""

    def __getattr__(self, name: str) -> Callable[..., Sched]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: Sched(name, args, tuple(kwargs.items()))


S = _Schedules()


def _format(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    return ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])


class Args:
    """The arguments of one call, for any of the libraries (schedules built in the library)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def resolve(self, lib: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        def one(v: Any) -> Any:
            return v.build(lib) if isinstance(v, (Sched, MinNdim)) else v

        return tuple(map(one, self.args)), {k: one(v) for k, v in self.kwargs.items()}

    def call(self, fn: Callable[..., Any], lib: Any) -> Any:
        args, kwargs = self.resolve(lib)
        return fn(*args, **kwargs)

    def with_learning_rate(self, lr: Any) -> Args:
        """The same call with the first argument (the learning rate) replaced."""
        return Args(lr, *self.args[1:], **self.kwargs)

    def with_kwargs(self, **kwargs: Any) -> Args:
        """The same call with these keyword arguments added (or replaced)."""
        return Args(*self.args, **{**self.kwargs, **kwargs})

    def __repr__(self) -> str:
        return _format(self.args, self.kwargs)


a = Args

SAME = object()
"""An Optax twin called with the same arguments as the gdtx case."""

MASK = {"w": True, "b": False, "s": True, "k": False}
"""A mask over ``helpers.SHAPES``: decay the matrix and the scalar."""
WARMUP_COSINE = S.warmup_cosine_decay_schedule(0.0, 0.05, 20, 120)
EXPONENTIAL = S.exponential_decay(0.03, 10, 0.8)
INVERSE_TIME = S.inverse_time_decay(0.3, 0.05)
TORCH_RMS = {"decay": 0.99, "eps": 1e-8, "eps_in_sqrt": False}
"""torch's RMSprop: alpha = 0.99 and ε = 1e-8 added after the root."""

TORCH_RADAM = {"strict_threshold": True, "eps_before_correction": True}
"""torch's RAdam: rectified once ρ_t > 5, ε added to √v before the bias correction."""


def clip_sqrt(count: Any) -> Any:
    """A clipping value for ADOPT other than its default count^¼: √count."""
    return count**0.5


ALL_DTYPES = frozenset({"bfloat16", "float16", "float32", "float64", "complex64"})
REAL_DTYPES = ALL_DTYPES - {"complex64"}
TORCH_EPS1 = float(np.finfo(np.float32).eps)
"""torch's Adafactor ε₁ (``eps=(None, ...)``): the float32 parameters' machine epsilon."""


@dataclasses.dataclass(frozen=True)
class Torch:
    """A ``torch.optim`` configuration and the gdtx call that reproduces it.

    ``args`` are the algorithm's gdtx arguments; ``build`` (with ``label`` for the test
    id) replaces the whole gdtx call where it is not the algorithm's builder. ``others``
    (with ``others_kwargs``) is the torch optimizer of the leaves that are not matrices,
    for an optimizer of matrices only (``torch.optim.Muon``); ``newton_schulz_float32``:
    record Muon with its Newton–Schulz iteration in float32 (record.py).
    """

    optimizer: str
    kwargs: Mapping[str, Any]
    args: Args | None = None
    scheduler: str | None = None
    scheduler_kwargs: Mapping[str, Any] | None = None
    build: Callable[[], Any] | None = None
    label: str = ""
    others: str | None = None
    others_kwargs: Mapping[str, Any] | None = None
    newton_schulz_float32: bool = False

    def config(self) -> dict[str, Any]:
        """The configuration as record.py records it."""
        out: dict[str, Any] = {"optimizer": self.optimizer, "kwargs": dict(self.kwargs)}
        if self.others is not None:
            out["others"] = self.others
            out["others_kwargs"] = dict(self.others_kwargs or {})
        if self.newton_schulz_float32:
            out["newton_schulz_float32"] = True
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler
            out["scheduler_kwargs"] = dict(self.scheduler_kwargs or {})
        return out


@dataclasses.dataclass(frozen=True)
class Converge:
    """A run that must converge: ``problem`` (``"quadratic"`` or ``"rosenbrock"``) from
    its fixed start in ``steps`` steps; ``label`` names the case (default: the problem)."""

    problem: str
    args: Args
    steps: int
    label: str = ""


@dataclasses.dataclass(frozen=True)
class Loop:
    """An Optax-style training loop (test_aliases.py) run with ``optax.name(args)`` and
    with ``gdtx.name(args)``: ``args`` as source text, ``{lib}`` standing for the library;
    ``agrees``: the two libraries' defaults agree, so their trajectories must too."""

    args: str
    steps: int = 2000
    agrees: bool = True


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One algorithm: its gdtx builder, its float64 reference, its twins and its checks.

    Attributes:
        name: the algorithm's name (the default case's id; variants are ``name_key``).
        build: the gdtx builder, e.g. ``gdtx.adam``.
        reference: the float64 NumPy reference with the builder's signature.
        default: the arguments of the default case.
        variants: more cases (key → arguments), each checked against the reference.
        optax_fn: Optax's builder of the same algorithm.
        optax: case key (``"default"`` or a variant's) → Optax arguments: ``SAME``,
            :class:`Args` where the defaults differ, or a function returning the Optax
            transformation.
        optax_rtol: the tolerance against Optax where Optax's own float32 arithmetic
            strays from the float64 reference by more than 1e-5 (the reason in a comment).
        torch: recorded case name → the torch configuration and the gdtx arguments.
        torch_net: 004's network trained with this torch configuration.
        dtypes: the parameter dtypes the algorithm supports.
        forms: the case keys whose states differ (protocol, dtypes, sharding, packing).
        converges: the problems it must converge on.
        elementwise: each element's update depends on that element alone (no per-layer
            norms): a NaN stays in its element.
        loop: the Optax training loop this algorithm drops into (test_aliases.py).
        maximize: a torch configuration with ``maximize=True`` and the gdtx arguments
            that reproduce it, run live (test_dropin.py).
        needs_value: ``update`` needs the loss, ``update(grads, state, params,
            value=f)``, at every step. The shared runs give :data:`VALUES` (step by step
            with :data:`GRADS`; :meth:`values` says which runs need them), the float64
            reference as float64 numbers, and the convergence runs the problem's f(x). A
            module that cannot give a value skips these entries by this field.
        refuses_complex: the algorithm does not define complex numbers, and ``init``
            refuses complex parameters with a ``TypeError`` naming the leaf
            (test_dtypes.py); complex64 is then not in ``dtypes``.
    """

    name: str
    build: Callable[..., gdtx.Transform]
    reference: Callable[..., Any]
    default: Args
    variants: Mapping[str, Args] = dataclasses.field(default_factory=dict)
    optax_fn: Callable[..., Any] | None = None
    optax: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    optax_rtol: float = 1e-5
    torch: Mapping[str, Torch] = dataclasses.field(default_factory=dict)
    torch_net: Torch | None = None
    dtypes: frozenset[str] = ALL_DTYPES
    forms: tuple[str, ...] = ("default",)
    converges: tuple[Converge, ...] = ()
    elementwise: bool = True
    loop: Loop | None = None
    maximize: Torch | None = None
    needs_value: bool = False
    refuses_complex: bool = False

    def args(self, key: str) -> Args:
        return self.default if key == "default" else self.variants[key]

    def case_id(self, key: str) -> str:
        return self.name if key == "default" else f"{self.name}_{key}"

    def case_keys(self) -> list[str]:
        return ["default", *self.variants]

    def make(self, key: str = "default", args: Args | None = None) -> gdtx.Transform:
        """The gdtx optimizer of a case (or of ``args``)."""
        return (args or self.args(key)).call(self.build, gdtx)

    def make_reference(self, key: str = "default") -> Any:
        return self.args(key).call(self.reference, ref)

    def optax_twin(self, key: str) -> Callable[[], Any]:
        """A function building the Optax twin of a case."""
        twin = self.optax[key]
        if twin is SAME:
            twin = self.args(key)
        if isinstance(twin, Args):
            fn = self.optax_fn
            assert fn is not None, self.name
            return lambda: twin.call(fn, optax)
        return twin

    def make_optax(self, key: str) -> Any:
        """The Optax twin of a case (Optax must be traced under standard promotion)."""
        return self.optax_twin(key)()

    def describe(self, key: str) -> str:
        return f"{self.build.__name__}({self.args(key)!r})"

    def values(self, steps: int | None = None) -> np.ndarray | None:
        """The losses a run of ``steps`` steps (default :data:`STEPS`) gives ``update``
        (the first of :data:`VALUES`), or ``None`` if the algorithm reads none."""
        return VALUES[: STEPS if steps is None else steps] if self.needs_value else None


def _optax_sm3(*txs: Any) -> Any:
    """Optax's SM3 (``txs`` chained) in gdtx's convention for shapes: a scalar runs as a
    vector of one entry (Optax's ``sm3`` rejects scalars) and a leaf of three or more
    dimensions as its separate matrices (Optax keeps one accumulator per axis)."""
    inner = optax.chain(*txs)

    def split(tree: Any) -> Any:
        def leaf(x: Any) -> Any:
            if x.ndim == 0:
                return x.reshape(1)
            return list(x.reshape(-1, *x.shape[-2:])) if x.ndim >= 3 else x

        return {k: leaf(x) for k, x in tree.items()}

    def join(tree: Any, like: Any) -> Any:
        return {
            k: jnp.reshape(jnp.stack(v) if isinstance(v, list) else v, like[k].shape)
            for k, v in tree.items()
        }

    def update(updates: Any, state: Any, params: Any = None) -> Any:
        out, state = inner.update(split(updates), state, None if params is None else split(params))
        return join(out, updates), state

    return optax.GradientTransformation(lambda params: inner.init(split(params)), update)


def lookahead(
    learning_rate: Any,
    sync_period: int = 5,
    slow_step_size: Any = 0.5,
    reset_state: bool = False,
    fast: str = "adam",
) -> gdtx.Transform:
    """``gdtx.lookahead`` around ``gdtx.adam(learning_rate)`` (``fast="adam"``) or
    ``gdtx.sgd(learning_rate, momentum=0.9)`` (``fast="sgd"``)."""
    inner = gdtx.adam(learning_rate) if fast == "adam" else gdtx.sgd(learning_rate, 0.9)
    return gdtx.lookahead(inner, sync_period, slow_step_size, reset_state)


def optax_lookahead(
    learning_rate: Any,
    sync_period: int = 5,
    slow_step_size: Any = 0.5,
    reset_state: bool = False,
    fast: str = "adam",
) -> Any:
    """:func:`lookahead` built from Optax's transformations (which take
    ``optax.LookaheadParams``)."""
    inner = optax.adam(learning_rate) if fast == "adam" else optax.sgd(learning_rate, 0.9)
    return optax.lookahead(inner, sync_period, slow_step_size, reset_state)


def sam(
    learning_rate: Any,
    rho: Any,
    sync_period: int = 2,
    reset_state: bool = True,
    outer: str = "sgd",
    adv_momentum: Any = None,
    opaque_mode: bool = False,
    lib: Any = gdtx,
) -> Any:
    """SAM with outer ``sgd(α)`` or ``adam(α)`` and adversarial ``chain(normalize(), sgd(ρ,
    adv_momentum))``, in gdtx (or, with ``lib=optax``, Optax's contrib). The learning rate
    comes first, as in every builder: the first step is the adversarial one (ρ's), so α
    takes effect from the second step on. ``opaque_mode`` (a whole period per call, from a
    ``grad_fn``) is tests/test_contrib.py's."""
    opt = lib.sgd(learning_rate) if outer == "sgd" else lib.adam(learning_rate)
    norm = gdtx.normalize() if lib is gdtx else optax.contrib.normalize()
    adv = lib.chain(norm, lib.sgd(rho, adv_momentum))
    sam_fn = gdtx.sam if lib is gdtx else optax.contrib.sam
    return sam_fn(opt, adv, sync_period, reset_state, opaque_mode)


def optax_sam(*args: Any, **kwargs: Any) -> Any:
    """:func:`sam` built from Optax's transformations."""
    return sam(*args, lib=optax, **kwargs)


def ref_sam(learning_rate: Any, rho: Any, *args: Any, **kwargs: Any) -> Any:
    """The float64 reference of :func:`sam`, with its argument order (α, ρ, …)."""
    return refc.sam(rho, learning_rate, *args, **kwargs)


class SquaredGradient(gdtx.Transform):
    """ĥ = g²: a deterministic diagonal-curvature estimate, so that Sophia runs on a gradient
    sequence (Hutchinson's estimate needs the objective: tests/test_contrib.py)."""

    def step(self, updates: Any, state: Any, params: Any, ctx: Any) -> tuple[Any, Any]:
        return jax.tree.map(lambda g: g * g, updates), state


def sophia(learning_rate: Any, *args: Any, lib: Any = gdtx, **kwargs: Any) -> Any:
    """``sophia`` with the estimate ĥ = g², in gdtx (or, with ``lib=optax``, Optax's)."""
    if lib is gdtx:
        return gdtx.sophia(learning_rate, *args, hessian_diagonal_fn=SquaredGradient(), **kwargs)
    squared = optax.stateless(lambda g, p: jax.tree.map(lambda x: x * x, g))
    return optax.contrib.sophia(learning_rate, *args, hessian_diagonal_fn=squared, **kwargs)


def optax_sophia(*args: Any, **kwargs: Any) -> Any:
    """:func:`sophia` built from Optax's transformations."""
    return sophia(*args, lib=optax, **kwargs)


def lbfgs(*args: Any, weight_decay: float | None = None, lib: Any = gdtx, **kwargs: Any) -> Any:
    """``lbfgs(*args, **kwargs)`` in gdtx (or, with ``lib=optax``, Optax's), after
    ``add_decayed_weights(weight_decay)`` when a weight decay λ is given: g ← g + λθ, the
    gradient of the registry's gradients plus λ‖θ‖²/2, so that the curvature pairs (s, y)
    see a curvature λ besides the random gradients' differences."""
    opt = lib.lbfgs(*args, **kwargs)
    return opt if weight_decay is None else lib.chain(lib.add_decayed_weights(weight_decay), opt)


def optax_lbfgs(*args: Any, **kwargs: Any) -> Any:
    """:func:`lbfgs` built from Optax's transformations."""
    return lbfgs(*args, lib=optax, **kwargs)


ALGORITHMS_LIST = [
    Algorithm(
        "sgd",
        gdtx.sgd,
        ref.SGD,
        default=a(0.05),
        variants={
            "momentum": a(0.02, momentum=0.9),
            "nesterov": a(0.02, momentum=0.9, nesterov=True),
            "dampening": a(0.02, momentum=0.8, dampening=0.5),
            "weight_decay": a(0.05, weight_decay=0.1),
            "momentum_weight_decay_schedule": a(WARMUP_COSINE, momentum=0.9, weight_decay=0.05),
            "schedule": a(WARMUP_COSINE),
        },
        optax_fn=optax.sgd,
        optax={"default": SAME, "momentum": SAME, "nesterov": SAME, "schedule": SAME},
        torch={
            "sgd": Torch("SGD", {"lr": 0.05}, a(0.05)),
            "sgd_momentum": Torch("SGD", {"lr": 0.05, "momentum": 0.9}, a(0.05, momentum=0.9)),
            "sgd_nesterov": Torch(
                "SGD",
                {"lr": 0.05, "momentum": 0.9, "nesterov": True},
                a(0.05, momentum=0.9, nesterov=True),
            ),
            "sgd_dampening": Torch(
                "SGD",
                {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
                a(0.05, momentum=0.9, dampening=0.5),
            ),
            "sgd_weight_decay": Torch(
                "SGD", {"lr": 0.05, "weight_decay": 0.1}, a(0.05, weight_decay=0.1)
            ),
            "sgd_nesterov_weight_decay": Torch(
                "SGD",
                {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
                a(0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
            ),
            # lr_scheduler.X stepped after every optimizer.step(): a schedule of count.
            # StepLR(step_size=10, gamma=0.5): lr·0.5^⌊count/10⌋.
            "step_lr": Torch(
                "SGD",
                {"lr": 0.1},
                a(S.exponential_decay(0.1, transition_steps=10, decay_rate=0.5, staircase=True)),
                scheduler="StepLR",
                scheduler_kwargs={"step_size": 10, "gamma": 0.5},
            ),
            # ExponentialLR(gamma=0.97): lr·0.97^count.
            "exponential_lr": Torch(
                "SGD",
                {"lr": 0.1},
                a(S.exponential_decay(0.1, transition_steps=1, decay_rate=0.97)),
                scheduler="ExponentialLR",
                scheduler_kwargs={"gamma": 0.97},
            ),
            # LinearLR(start_factor=0.2, end_factor=1.0, total_iters=30).
            "linear_lr": Torch(
                "SGD",
                {"lr": 0.1},
                a(S.linear_schedule(0.02, 0.1, transition_steps=30)),
                scheduler="LinearLR",
                scheduler_kwargs={"start_factor": 0.2, "end_factor": 1.0, "total_iters": 30},
            ),
            # CosineAnnealingLR(T_max=100, eta_min=0.01): alpha = eta_min / lr. Within T_max
            # only: torch's schedule rises again after T_max, gdtx's stays at eta_min.
            "cosine_annealing_lr": Torch(
                "SGD",
                {"lr": 0.1, "momentum": 0.9},
                a(S.cosine_decay_schedule(0.1, decay_steps=100, alpha=0.1), momentum=0.9),
                scheduler="CosineAnnealingLR",
                scheduler_kwargs={"T_max": 100, "eta_min": 0.01},
            ),
        },
        forms=("default", "momentum", "nesterov"),
        converges=(
            Converge("quadratic", a(0.4), 200),
            Converge("quadratic", a(0.05, momentum=0.9), 300, "momentum"),
            Converge("quadratic", a(0.05, momentum=0.9, nesterov=True), 300, "nesterov"),
            Converge("rosenbrock", a(1e-3), 20000),
            Converge("rosenbrock", a(5e-4, momentum=0.9), 10000, "momentum"),
            Converge("rosenbrock", a(5e-4, momentum=0.9, nesterov=True), 10000, "nesterov"),
        ),
        loop=Loop("learning_rate=2e-3, momentum=0.9"),
        maximize=Torch(
            "SGD",
            {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1, "maximize": True},
            a(0.05, momentum=0.9, weight_decay=0.1, maximize=True),
        ),
    ),
    Algorithm(
        "momentum",
        gdtx.momentum,
        ref.Momentum,
        default=a(0.1),
        variants={
            "ewma_debias": a(0.1, 0.8, debias=True),
            "trace": a(0.02, form="trace"),
            "trace_nesterov": a(0.02, 0.95, form="trace", nesterov=True),
        },
        optax={
            "trace": lambda: optax.sgd(0.02, momentum=0.9),
            "ewma_debias": lambda: optax.chain(
                optax.ema(0.8, debias=True), optax.scale_by_learning_rate(0.1)
            ),
        },
        forms=("default", "trace"),
        converges=(
            Converge("quadratic", a(0.4, 0.9), 300),
            Converge("rosenbrock", a(5e-3, 0.9), 10000),
        ),
    ),
    Algorithm(
        "adagrad",
        gdtx.adagrad,
        ref.Adagrad,
        default=a(0.1),
        variants={
            "optax_style_weight_decay": a(0.2, 0.1, 1e-7, eps_in_sqrt=True, weight_decay=0.01),
            "lr_decay": a(INVERSE_TIME, eps=1e-3),
            "optax_defaults": a(0.1, initial_accumulator_value=0.1, eps=1e-7, eps_in_sqrt=True),
        },
        optax_fn=optax.adagrad,
        optax={"optax_defaults": a(0.1)},
        torch={
            "adagrad": Torch("Adagrad", {"lr": 0.1}, a(0.1)),
            # lr_decay=γ is the schedule inverse_time_decay(lr, decay_rate=γ).
            "adagrad_lr_decay": Torch(
                "Adagrad",
                {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
                a(S.inverse_time_decay(0.1, decay_rate=0.01), initial_accumulator_value=0.1),
            ),
        },
        torch_net=Torch(
            "Adagrad",
            {"lr": 0.01},
            a(0.01, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False),
        ),
        converges=(Converge("quadratic", a(1.0), 300), Converge("rosenbrock", a(0.5), 10000)),
        loop=Loop("learning_rate=0.3", agrees=False),  # accumulator start, ε placement
        maximize=Torch("Adagrad", {"lr": 0.1, "maximize": True}, a(0.1, maximize=True)),
    ),
    Algorithm(
        "rmsprop",
        gdtx.rmsprop,
        ref.RMSProp,
        default=a(0.01),
        variants={
            "torch_style": a(0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False),
            "centered": a(0.005, centered=True),
            "momentum": a(0.003, momentum=0.9),
            "centered_momentum": a(0.003, centered=True, momentum=0.9),
            "centered_nesterov": a(0.003, centered=True, momentum=0.5, nesterov=True),
            "nesterov_weight_decay": a(0.005, 0.95, momentum=0.5, nesterov=True, weight_decay=0.01),
            "nondefault": a(0.01, 0.99, 1e-6, 1.0, eps_in_sqrt=False, bias_correction=True),
            "initial_scale_bias_correction": a(
                0.01, 0.95, 1e-6, initial_scale=1.0, bias_correction=True
            ),
            "centered_bias_correction_momentum_schedule": a(
                EXPONENTIAL, 0.9, 0.1, centered=True, momentum=0.7, bias_correction=True
            ),
        },
        optax_fn=optax.rmsprop,
        # With momentum, equal only for a constant learning rate (test_vs_optax.py).
        optax={
            "default": SAME,
            "centered": SAME,
            "nondefault": SAME,
            "momentum": SAME,
            "centered_nesterov": SAME,
        },
        torch={
            "rmsprop": Torch("RMSprop", {"lr": 0.01}, a(0.01, **TORCH_RMS)),
            "rmsprop_centered": Torch(
                "RMSprop", {"lr": 0.01, "centered": True}, a(0.01, **TORCH_RMS, centered=True)
            ),
            "rmsprop_momentum": Torch(
                "RMSprop", {"lr": 0.01, "momentum": 0.9}, a(0.01, **TORCH_RMS, momentum=0.9)
            ),
            "rmsprop_centered_momentum_weight_decay": Torch(
                "RMSprop",
                {"lr": 0.01, "alpha": 0.9, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
                a(
                    0.01,
                    decay=0.9,
                    eps=1e-8,
                    eps_in_sqrt=False,
                    centered=True,
                    momentum=0.5,
                    weight_decay=0.1,
                ),
            ),
        },
        torch_net=Torch("RMSprop", {"lr": 0.001}, a(0.001, **TORCH_RMS)),
        forms=("centered_momentum",),
        converges=(
            Converge("quadratic", a(0.05), 300),
            Converge("rosenbrock", a(1e-3, decay=0.99), 10000),
        ),
        loop=Loop("learning_rate=3e-3"),
        maximize=Torch(
            "RMSprop",
            {"lr": 0.01, "momentum": 0.5, "maximize": True},
            a(0.01, decay=0.99, eps_in_sqrt=False, momentum=0.5, maximize=True),
        ),
    ),
    Algorithm(
        "adadelta",
        gdtx.adadelta,
        ref.Adadelta,
        default=a(),
        variants={
            "torch_style": a(2.0, rho=0.9, eps=1e-6),
            "eps_weight_decay": a(0.5, rho=0.99, eps=1e-4, weight_decay=0.01),
        },
        optax_fn=optax.adadelta,
        optax={"torch_style": SAME},
        torch={"adadelta": Torch("Adadelta", {}, a(1.0, rho=0.9, eps=1e-6))},
        converges=(
            Converge("quadratic", a(), 3000),
            # With a constant rate Adadelta's ε-sized steps stall in the valley (f ≈ 0.6
            # after 20k steps); a decaying rate lets it settle.
            Converge("rosenbrock", a(S.cosine_decay_schedule(1.0, 50000)), 50000),
        ),
        loop=Loop(  # a constant rate stalls in the valley; gdtx's default ε differs
            "learning_rate={lib}.cosine_decay_schedule(2.0, 4000), rho=0.9", 4000, agrees=False
        ),
        maximize=Torch(
            "Adadelta",
            {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "maximize": True},
            a(1.0, rho=0.9, eps=1e-6, maximize=True),
        ),
    ),
    Algorithm(
        "adam",
        gdtx.adam,
        ref.Adam,
        default=a(0.01),
        variants={
            "nondefault": a(0.02, 0.5, 0.99, 1e-6, eps_root=1e-8, weight_decay=0.01),
            "nondefault_schedule": a(EXPONENTIAL, 0.8, 0.99, 1e-6, eps_root=1e-8),
            "b2_0.9999_schedule": a(EXPONENTIAL, b2=0.9999),
        },
        optax_fn=optax.adam,
        optax={"default": SAME, "nondefault_schedule": SAME},
        torch={
            "adam": Torch("Adam", {"lr": 0.01}, a(0.01)),
            # torch's Adam weight_decay is L2, gdtx's adam(weight_decay=).
            "adam_weight_decay": Torch(
                "Adam", {"lr": 0.01, "weight_decay": 0.1}, a(0.01, weight_decay=0.1)
            ),
        },
        torch_net=Torch("Adam", {"lr": 0.001}, a(0.001, b1=0.9, b2=0.999, eps=1e-8)),
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        loop=Loop("learning_rate=2e-2"),
        maximize=Torch(
            "Adam",
            {"lr": 0.05, "weight_decay": 0.1, "maximize": True},
            a(0.05, weight_decay=0.1, maximize=True),
        ),
    ),
    Algorithm(
        "adamw",
        gdtx.adamw,
        ref.AdamW,
        default=a(0.01),
        variants={
            "weight_decay": a(0.01, 0.8, 0.99, weight_decay=0.2),
            "masked": a(WARMUP_COSINE, weight_decay=0.5, mask=MASK),
        },
        optax_fn=optax.adamw,
        optax={"default": SAME, "weight_decay": SAME, "masked": SAME},
        torch={
            "adamw": Torch("AdamW", {"lr": 0.01, "weight_decay": 0.01}, a(0.01, weight_decay=0.01))
        },
        forms=("weight_decay",),
        converges=(
            Converge("quadratic", a(0.1, weight_decay=1e-3), 400),
            Converge("rosenbrock", a(0.02, weight_decay=0.0), 5000),
        ),
        loop=Loop("learning_rate=2e-2, weight_decay=1e-4"),
        maximize=Torch(
            "AdamW",
            {"lr": 0.05, "weight_decay": 0.1, "maximize": True},
            a(0.05, weight_decay=0.1, maximize=True),
        ),
    ),
    Algorithm(
        "amsgrad",
        gdtx.amsgrad,
        ref.AMSGrad,
        default=a(0.01),
        variants={"b2_weight_decay": a(0.01, b2=0.9, weight_decay=0.01)},
        # Optax's amsgrad takes the maximum over the bias-corrected v̂: no twin.
        torch={"adam_amsgrad": Torch("Adam", {"lr": 0.01, "amsgrad": True}, a(0.01))},
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        loop=Loop("learning_rate=0.1", agrees=False),  # max over raw v (torch) or v̂ (Optax)
        maximize=Torch(
            "Adam", {"lr": 0.05, "amsgrad": True, "maximize": True}, a(0.05, maximize=True)
        ),
    ),
    Algorithm(
        "adamax",
        gdtx.adamax,
        ref.Adamax,
        default=a(0.02),
        variants={
            "eps_in_max": a(0.02, eps=1e-3, eps_in_max=True),
            "eps_in_denominator": a(0.02, eps=1e-3, eps_in_max=False),
            "nondefault": a(0.02, 0.8, 0.99, 1e-3, weight_decay=0.01),
        },
        optax_fn=optax.adamax,
        optax={"default": SAME, "eps_in_max": a(0.02, eps=1e-3)},
        # torch's Adamax: ε inside the max, lr = 2e-3.
        torch={"adamax": Torch("Adamax", {}, a(2e-3))},
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 10000)),
        loop=Loop("learning_rate=0.1"),
        maximize=Torch("Adamax", {"lr": 0.02, "maximize": True}, a(0.02, maximize=True)),
    ),
    Algorithm(
        "nadam",
        gdtx.nadam,
        ref.NAdam,
        default=a(0.01),
        variants={
            "constant_momentum": a(0.01, momentum_decay=None),
            "nondefault": a(0.01, 0.95, 0.99, 1e-6, momentum_decay=0.02, weight_decay=0.01),
            "nondefault_constant_momentum": a(0.01, 0.95, 0.99, 1e-6, momentum_decay=None),
        },
        optax_fn=optax.nadam,
        # Optax's NAdam has a constant μ = β₁.
        optax={
            "constant_momentum": a(0.01),
            "nondefault_constant_momentum": a(0.01, 0.95, 0.99, 1e-6),
        },
        torch={
            "nadam": Torch("NAdam", {}, a(2e-3)),
            "nadam_decoupled_weight_decay": Torch(
                "NAdam",
                {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
                build=lambda: gdtx.chain(
                    gdtx.scale_by_nadam(),
                    gdtx.add_decayed_weights(0.1),
                    gdtx.scale_by_learning_rate(0.01),
                ),
                label="chain(scale_by_nadam(), add_decayed_weights(0.1), "
                "scale_by_learning_rate(0.01))",
            ),
        },
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        loop=Loop("learning_rate=2e-2", agrees=False),  # Dozat's momentum schedule
        maximize=Torch("NAdam", {"lr": 0.02, "maximize": True}, a(0.02, maximize=True)),
    ),
    Algorithm(
        "lars",
        gdtx.lars,
        ref.LARS,
        default=a(5.0),
        variants={
            "weight_decay_eps_nesterov": a(
                0.5, weight_decay=0.01, trust_coefficient=0.02, eps=1e-3, nesterov=True
            ),
            "masks_schedule": a(
                WARMUP_COSINE,
                weight_decay=0.05,
                weight_decay_mask=MASK,
                trust_coefficient=0.5,
                trust_ratio_mask={"w": True, "b": True, "s": False, "k": True},
                momentum=0.8,
            ),
        },
        optax_fn=optax.lars,
        optax={"default": SAME, "weight_decay_eps_nesterov": SAME, "masks_schedule": SAME},
        forms=("weight_decay_eps_nesterov",),
        converges=(
            Converge("quadratic", a(20.0, momentum=0.9, trust_coefficient=0.01), 400),
            Converge("rosenbrock", a(0.5, trust_coefficient=0.002), 20000),
        ),
        elementwise=False,
        loop=Loop("learning_rate=2.0, momentum=0.9"),
    ),
    Algorithm(
        "lion",
        gdtx.lion,
        ref.Lion,
        default=a(0.01),
        variants={
            "nondefault": a(0.005, 0.8, 0.95, weight_decay=0.1),
            "mask_schedule": a(WARMUP_COSINE, weight_decay=0.05, mask=MASK),
        },
        optax_fn=optax.lion,
        optax={"default": SAME, "nondefault": SAME, "mask_schedule": SAME},
        forms=("default", "mask_schedule"),
        converges=(
            Converge("quadratic", a(S.cosine_decay_schedule(0.3, 500)), 500),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.01, 5000)), 5000),
        ),
        loop=Loop("learning_rate={lib}.cosine_decay_schedule(0.02, 2000)"),
    ),
    Algorithm(
        "lamb",
        gdtx.lamb,
        ref_layer.LAMB,
        default=a(0.01),
        variants={
            "nondefault": a(0.02, 0.8, 0.99, 1e-4, eps_root=1e-8, weight_decay=0.1),
            "mask_schedule": a(WARMUP_COSINE, weight_decay=0.05, mask=MASK),
        },
        optax_fn=optax.lamb,
        optax={"default": SAME, "nondefault": SAME, "mask_schedule": SAME},
        forms=("nondefault",),
        converges=(
            Converge("quadratic", a(S.cosine_decay_schedule(0.1, 500)), 500),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.01, 5000)), 5000),
        ),
        elementwise=False,
        loop=Loop("learning_rate=2e-2"),
    ),
    Algorithm(
        "novograd",
        gdtx.novograd,
        ref_layer.NovoGrad,
        default=a(0.01),
        variants={
            "nondefault": a(0.02, 0.8, 0.9, 1e-4, eps_root=1e-8, weight_decay=0.1),
            "schedule": a(WARMUP_COSINE, b2=0.98, weight_decay=0.01),
        },
        optax_fn=optax.novograd,
        optax={"default": SAME, "nondefault": SAME, "schedule": SAME},
        forms=("nondefault",),
        converges=(
            Converge("quadratic", a(S.cosine_decay_schedule(0.3, 500)), 500),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.01, 5000)), 5000),
        ),
        elementwise=False,
        loop=Loop("learning_rate=2e-2"),
    ),
    Algorithm(
        "adan",
        gdtx.adan,
        ref_layer.Adan,
        default=a(0.01),
        variants={
            # Optax 0.2.8 weighs the gradient difference by 1 − b2, the paper by b2: twins
            # at b2 = 0.5 only.
            "b2_half": a(0.01, 0.9, 0.5, 0.95, 1e-6, eps_root=1e-8, weight_decay=0.1),
            "b2_half_mask_schedule": a(
                WARMUP_COSINE, b2=0.5, eps_root=1e-8, weight_decay=0.05, mask=MASK
            ),
        },
        optax_fn=optax.adan,
        optax={"b2_half": SAME, "b2_half_mask_schedule": SAME},
        forms=("default", "b2_half_mask_schedule"),
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        loop=Loop("learning_rate=2e-2", agrees=False),  # Optax's weight on the difference
    ),
    Algorithm(
        "fromage",
        gdtx.fromage,
        ref_layer.Fromage,
        default=a(0.01),
        variants={"large_rate": a(0.2, min_norm=1e-3), "schedule": a(WARMUP_COSINE)},
        optax_fn=optax.fromage,
        optax={"default": SAME, "large_rate": SAME, "schedule": SAME},
        forms=("default",),
        converges=(
            Converge("quadratic", a(S.cosine_decay_schedule(0.1, 500)), 500),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.01, 5000)), 5000),
        ),
        elementwise=False,
        loop=Loop("learning_rate=1e-2"),
    ),
    Algorithm(
        "sm3",
        gdtx.sm3,
        ref_layer.SM3,
        default=a(0.05),
        variants={
            "optax_eps": a(0.05, 0.8, eps=1e-8),
            "no_momentum_schedule": a(WARMUP_COSINE, None),
        },
        optax={
            "default": lambda: _optax_sm3(optax.scale_by_sm3(0.9, eps=0.0), optax.scale(-0.05)),
            "optax_eps": lambda: _optax_sm3(optax.sm3(0.05, 0.8)),
        },
        forms=("default", "no_momentum_schedule"),
        converges=(
            Converge("quadratic", a(0.5), 300),
            Converge("rosenbrock", a(0.5), 5000),
        ),
        elementwise=False,
        # ε: the paper's 0 here, a fixed 1e-8 in Optax; the NNX loop's tiny gradients see it
        loop=Loop("learning_rate=0.3", agrees=False),
    ),
    Algorithm(
        "radam",
        gdtx.radam,
        ref_adam.RAdam,
        default=a(0.01),
        variants={
            "nondefault": a(0.02, 0.8, 0.99, 1e-3, 1e-8, 6.0, weight_decay=0.01),
            "nesterov_schedule": a(EXPONENTIAL, b2=0.99, nesterov=True),
        },
        optax_fn=optax.radam,
        optax={"default": SAME, "nesterov_schedule": SAME},
        # Optax forms ρ_t from β₂ᵗ by subtraction in float32: 1.1e-5 from the float64
        # reference over 120 steps, where gdtx stays within 7e-7.
        optax_rtol=3e-5,
        torch={
            # torch: ρ_t > 5 and ε added to √v before the bias correction.
            "radam": Torch("RAdam", {"lr": 0.01}, a(0.01, **TORCH_RADAM)),
            "radam_decoupled_weight_decay": Torch(
                "RAdam",
                {"lr": 0.01, "eps": 1e-3, "weight_decay": 0.1, "decoupled_weight_decay": True},
                a(0.01, eps=1e-3, weight_decay=0.1, decoupled_weight_decay=True, **TORCH_RADAM),
            ),
        },
        forms=("default", "nesterov_schedule"),
        # The first steps are SGD with momentum: on the Rosenbrock valley α warms up.
        converges=(
            Converge("quadratic", a(0.1), 400),
            Converge("rosenbrock", a(S.warmup_cosine_decay_schedule(0.0, 0.03, 50, 5000)), 5000),
        ),
        loop=Loop("learning_rate={lib}.warmup_constant_schedule(0.0, 0.05, 50)"),
        maximize=Torch(
            "RAdam", {"lr": 0.05, "maximize": True}, a(0.05, maximize=True, **TORCH_RADAM)
        ),
    ),
    Algorithm(
        "nadamw",
        gdtx.nadamw,
        ref_adam.NAdamW,
        default=a(0.01),
        variants={
            "constant_momentum": a(
                0.01, 0.95, 0.99, 1e-6, 1e-8, weight_decay=0.1, momentum_decay=None
            ),
            "constant_momentum_masked": a(
                WARMUP_COSINE, weight_decay=0.5, mask=MASK, momentum_decay=None
            ),
        },
        optax_fn=optax.nadamw,
        # Optax's NAdamW has a constant μ = β₁.
        optax={
            "constant_momentum": a(0.01, 0.95, 0.99, 1e-6, 1e-8, weight_decay=0.1),
            "constant_momentum_masked": a(WARMUP_COSINE, weight_decay=0.5, mask=MASK),
        },
        torch={
            "nadamw": Torch(
                "NAdam",
                {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
                a(0.01, weight_decay=0.1),
            )
        },
        forms=("default", "constant_momentum_masked"),
        converges=(
            Converge("quadratic", a(0.1, weight_decay=1e-3), 400),
            Converge("rosenbrock", a(0.02, weight_decay=0.0), 5000),
        ),
        loop=Loop("learning_rate=2e-2, weight_decay=1e-4", agrees=False),  # Dozat's schedule
        maximize=Torch(
            "NAdam",
            {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
            a(0.05, weight_decay=0.1, maximize=True),
        ),
    ),
    Algorithm(
        "adamaxw",
        gdtx.adamaxw,
        ref_adam.AdamaxW,
        default=a(0.02),
        variants={
            "masked_schedule": a(WARMUP_COSINE, 0.8, 0.99, 1e-3, weight_decay=0.2, mask=MASK),
            "eps_in_denominator": a(0.02, eps=1e-3, weight_decay=0.1, eps_in_max=False),
        },
        optax_fn=optax.adamaxw,
        optax={"default": SAME, "masked_schedule": SAME},
        converges=(
            Converge("quadratic", a(0.1), 400),
            Converge("rosenbrock", a(0.02, weight_decay=0.0), 10000),
        ),
        loop=Loop("learning_rate=0.1, weight_decay=1e-4"),
    ),
    Algorithm(
        "adabelief",
        gdtx.adabelief,
        ref_adam.AdaBelief,
        default=a(0.01),
        variants={
            "nondefault": a(0.02, 0.8, 0.99, 1e-8, 1e-10, weight_decay=0.01),
            "nesterov_schedule": a(EXPONENTIAL, nesterov=True),
        },
        optax_fn=optax.adabelief,
        optax={"default": SAME, "nesterov_schedule": SAME},
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        loop=Loop("learning_rate=2e-2"),
    ),
    Algorithm(
        "yogi",
        gdtx.yogi,
        ref_adam.Yogi,
        default=a(0.01),
        variants={
            "nondefault": a(0.02, 0.8, 0.99, 1e-4, eps_root=1e-8, weight_decay=0.01),
            "initial_schedule": a(EXPONENTIAL, initial_accumulator_value=0.1),
        },
        optax_fn=optax.yogi,
        # Optax's yogi takes no ε_root or L2; Optax starts m at v₀ too (gdtx: m₀ = 0),
        # which is below the tolerance for v₀ = 1e-6 only.
        optax={
            "default": SAME,
            "nondefault": lambda: optax.chain(
                optax.add_decayed_weights(0.01),
                optax.scale_by_yogi(0.8, 0.99, 1e-4, 1e-8),
                optax.scale_by_learning_rate(0.02),
            ),
        },
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        loop=Loop("learning_rate=2e-2"),
    ),
    Algorithm(
        "adopt",
        gdtx.adopt,
        ref_adam.ADOPT,
        default=a(0.01),
        variants={
            "nesterov_no_clipping": a(0.01, 0.8, 0.99, 1e-4, nesterov=True, use_clipping=False),
            "clip_fn_schedule": a(EXPONENTIAL, clip_value_fn=clip_sqrt),
        },
        optax_fn=optax.contrib.adopt,
        optax={"default": SAME, "nesterov_no_clipping": SAME, "clip_fn_schedule": SAME},
        forms=("default", "nesterov_no_clipping"),
        # β₂ = 0.9999 keeps the valley's first, large gradients in v for too long.
        converges=(
            Converge("quadratic", a(0.1), 400),
            Converge("rosenbrock", a(0.05, b2=0.999), 5000),
        ),
        # No Optax loop: Optax has it as optax.contrib.{name}, not optax.{name}.
    ),
    Algorithm(
        "ademamix",
        gdtx.ademamix,
        ref_adam.AdEMAMix,
        default=a(0.01),
        variants={
            "nondefault": a(EXPONENTIAL, 0.8, 0.99, 0.999, 3.0, 1e-6, 1e-8),
            "schedules_masked": a(
                0.01,
                b3=S.linear_schedule(0.9, 0.999, 100),
                alpha=S.linear_schedule(0.0, 8.0, 50),
                weight_decay=0.1,
                mask=MASK,
            ),
        },
        optax_fn=optax.contrib.ademamix,
        optax={"default": SAME, "nondefault": SAME, "schedules_masked": SAME},
        forms=("default", "schedules_masked"),
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.02), 5000)),
        # No Optax loop: Optax has it as optax.contrib.{name}, not optax.{name}.
    ),
    Algorithm(
        "sign_sgd",
        gdtx.sign_sgd,
        refs.SignSGD,
        default=a(0.01),
        variants={"schedule_maximize": a(WARMUP_COSINE, maximize=True)},
        optax_fn=optax.sign_sgd,
        optax={"default": SAME},
        converges=(
            Converge("quadratic", a(S.cosine_decay_schedule(0.3, 500)), 500),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.003, 10000)), 10000),
        ),
        loop=Loop("learning_rate={lib}.cosine_decay_schedule(0.003, 6000)", 6000),
    ),
    Algorithm(
        "signum",
        gdtx.signum,
        refs.Signum,
        default=a(0.01),
        variants={"beta_schedule": a(WARMUP_COSINE, 0.5)},
        optax_fn=optax.signum,
        optax={"default": SAME, "beta_schedule": SAME},
        converges=(
            Converge("quadratic", a(S.cosine_decay_schedule(0.3, 500)), 500),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.01, 5000)), 5000),
        ),
        loop=Loop("learning_rate={lib}.cosine_decay_schedule(0.02, 2000)"),
    ),
    Algorithm(
        "optimistic_gradient_descent",
        gdtx.optimistic_gradient_descent,
        refs.OptimisticGD,
        default=a(0.05),
        variants={"alpha_beta_schedule": a(WARMUP_COSINE, 0.5, 2.0)},
        optax_fn=optax.optimistic_gradient_descent,
        optax={"default": SAME, "alpha_beta_schedule": SAME},
        converges=(
            Converge("quadratic", a(0.1), 300),
            Converge("rosenbrock", a(5e-4), 15000),
        ),
    ),
    # Optax's optimistic_adam is deprecated (it warns) and defaults to nesterov=True: the
    # twins are optimistic_adam_v2 with alpha = α, beta = o and a unit learning rate.
    Algorithm(
        "optimistic_adam",
        gdtx.optimistic_adam,
        refs.OptimisticAdam,
        default=a(0.01),
        variants={
            "optimism": a(0.01, 0.05, 0.8, 0.99, 1e-6, eps_root=1e-8),
            "nesterov_schedule": a(EXPONENTIAL, nesterov=True),
        },
        optax={
            "default": lambda: optax.optimistic_adam_v2(0.01, nesterov=False),
            "optimism": lambda: optax.optimistic_adam_v2(
                1.0,
                alpha=0.01,
                beta=0.05,
                b1=0.8,
                b2=0.99,
                eps=1e-6,
                eps_root=1e-8,
                nesterov=False,
            ),
            "nesterov_schedule": lambda: optax.optimistic_adam_v2(
                EXPONENTIAL.build(optax), nesterov=True
            ),
        },
        forms=("default", "nesterov_schedule"),
        # At α = 0.02 it reaches f ≈ 2e-9 by step 2500, then oscillates back up (f ≈ 1e-2).
        converges=(Converge("quadratic", a(0.1), 400), Converge("rosenbrock", a(0.01), 8000)),
    ),
    Algorithm(
        "noisy_sgd",
        gdtx.noisy_sgd,
        refs.NoisySGD,
        default=a(0.05, key=0),
        variants={
            "schedule": a(WARMUP_COSINE, 0.3, 0.6, 7),
            "maximize": a(0.05, 1.0, key=3, maximize=True),
        },
        optax_fn=optax.noisy_sgd,
        optax={"default": SAME, "schedule": SAME},
        # The noise is drawn in each leaf's dtype (as Optax's): other numbers in other
        # dtypes, so those run in test_cat_simple.py rather than against float32 runs here.
        dtypes=frozenset({"float32"}),
        converges=(Converge("quadratic", a(0.4, 1e-4, key=0), 200),),
        elementwise=False,  # the noise moves an element whose gradient is zero
        loop=Loop("learning_rate=0.002, eta=1e-4, key=0", 4000),
    ),
    Algorithm(
        "rprop",
        gdtx.rprop,
        refs.Rprop,
        default=a(0.05),
        variants={"nondefault_maximize": a(0.05, 0.3, 1.5, 1e-3, 0.2, maximize=True)},
        # Optax 0.2.8's rprop applies each update one step late: no twin (test_cat_simple.py).
        torch={
            "rprop": Torch("Rprop", {"lr": 0.01}, a(0.01)),
            "rprop_etas_step_sizes": Torch(
                "Rprop",
                {"lr": 0.05, "etas": [0.3, 1.5], "step_sizes": [1e-3, 0.2]},
                a(0.05, 0.3, 1.5, 1e-3, 0.2),
            ),
        },
        dtypes=ALL_DTYPES - {"complex64"},
        refuses_complex=True,
        converges=(Converge("quadratic", a(0.1), 200), Converge("rosenbrock", a(0.01), 2000)),
        loop=Loop("learning_rate=0.01", agrees=False),  # Optax's one-step lag
        maximize=Torch("Rprop", {"lr": 0.05, "maximize": True}, a(0.05, maximize=True)),
    ),
    Algorithm(
        "asgd",
        gdtx.asgd,
        refs.ASGD,
        default=a(0.01),
        variants={"nondefault": a(0.05, 0.1, 0.6, 20.0, weight_decay=0.01)},
        torch={
            "asgd": Torch("ASGD", {"lr": 0.01}, a(0.01)),
            "asgd_nondefault": Torch(
                "ASGD",
                {"lr": 0.05, "lambd": 0.1, "alpha": 0.6, "t0": 20.0, "weight_decay": 0.01},
                a(0.05, 0.1, 0.6, 20.0, weight_decay=0.01),
            ),
        },
        forms=("nondefault",),
        converges=(Converge("quadratic", a(0.4), 200), Converge("rosenbrock", a(1e-3), 20000)),
        maximize=Torch("ASGD", {"lr": 0.05, "maximize": True}, a(0.05, maximize=True)),
    ),
    Algorithm(
        "schedule_free_sgd",
        gdtx.schedule_free_sgd,
        refc.schedule_free_sgd,
        default=a(0.05),
        variants={"warmup_decay": a(0.1, warmup_steps=10, b1=0.8, weight_decay=0.05)},
        optax_fn=optax.contrib.schedule_free_sgd,
        optax={"default": SAME, "warmup_decay": SAME},
        forms=("default",),
        converges=(
            Converge("quadratic", a(0.2), 300),
            Converge("rosenbrock", a(1e-3, b1=0.95), 5000),
        ),
    ),
    Algorithm(
        "schedule_free_adamw",
        gdtx.schedule_free_adamw,
        refc.schedule_free_adamw,
        default=a(0.01),
        variants={
            "nondefault": a(
                0.02,
                warmup_steps=15,
                b1=0.95,
                b2=0.99,
                eps=1e-6,
                weight_decay=0.1,
                weight_lr_power=1.0,
            )
        },
        optax_fn=optax.contrib.schedule_free_adamw,
        optax={"default": SAME, "nondefault": SAME},
        forms=("default",),
        converges=(
            Converge("quadratic", a(0.5), 300),
            Converge("rosenbrock", a(0.05, warmup_steps=100), 3000),
        ),
    ),
    Algorithm(
        "prodigy",
        gdtx.prodigy,
        refc.Prodigy,
        default=a(estim_lr0=0.02),  # d₀ = 1e-6 barely moves on uncorrelated gradients
        variants={
            "b2": a(estim_lr0=0.02, betas=(0.9, 0.99)),
            "nondefault": a(
                S.linear_schedule(1.0, 0.0, 120),
                (0.8, 0.99),
                beta3=0.95,
                eps=1e-6,
                estim_lr0=0.05,
                estim_lr_coef=2.0,
                weight_decay=0.05,
                safeguard_warmup=True,
            ),
        },
        optax_fn=optax.contrib.prodigy,
        # Not the default: Optax forms 1 − β₂ᵗ by subtraction in float32, which with
        # β₂ = 0.999 puts its trajectory 2.3e-5 from the float64 reference (gdtx's: 4e-7).
        optax={"b2": SAME, "nondefault": SAME},
        dtypes=ALL_DTYPES - {"complex64"},
        refuses_complex=True,
        forms=("default",),
        converges=(Converge("quadratic", a(), 400), Converge("rosenbrock", a(0.5), 4000)),
        elementwise=False,
    ),
    # SAM (transparent mode: one step a call) around SGD or Adam; the opaque mode takes a
    # gradient function, which tests/test_contrib.py gives it (each form, opaque_mode=True).
    Algorithm(
        "sam",
        sam,
        ref_sam,
        default=a(0.05, 0.05),
        variants={
            "adam_momentum_no_reset": a(
                0.01, 0.1, 3, reset_state=False, outer="adam", adv_momentum=0.9
            ),
            "adam_momentum_reset": a(0.01, 0.1, 3, outer="adam", adv_momentum=0.9),
        },
        optax_fn=optax_sam,
        optax={"default": SAME, "adam_momentum_no_reset": SAME, "adam_momentum_reset": SAME},
        forms=("default", "adam_momentum_no_reset"),
        converges=(
            Converge("quadratic", a(0.2, 0.01), 400),
            Converge("rosenbrock", a(0.01, 0.01, outer="adam"), 6000),
        ),
        elementwise=False,
    ),
    # Sophia with the deterministic estimate ĥ = g²; Hutchinson's estimate with an
    # objective is checked against Optax in tests/test_contrib.py.
    Algorithm(
        "sophia",
        sophia,
        refc.Sophia,
        default=a(0.01),
        variants={
            "interval_gamma_mask": a(
                0.02,
                0.9,
                0.95,
                1e-6,
                0.05,
                weight_decay_mask=MASK,
                gamma=1.0,
                clip_threshold=3.0,
                update_interval=3,
            ),
            "unclipped_schedule": a(
                WARMUP_COSINE, gamma=2.0, clip_threshold=None, update_interval=1
            ),
        },
        optax_fn=optax_sophia,
        optax={"default": SAME, "interval_gamma_mask": SAME, "unclipped_schedule": SAME},
        dtypes=ALL_DTYPES - {"complex64"},
        refuses_complex=True,
        forms=("default", "interval_gamma_mask"),
        converges=(
            Converge("quadratic", a(0.05, gamma=1.0, update_interval=1), 400),
            Converge("rosenbrock", a(S.cosine_decay_schedule(0.01, 5000)), 5000),
        ),
    ),
    # Lookahead around Adam (and SGD with momentum): Optax's lookahead takes LookaheadParams,
    # which a run on plain parameters cannot feed, so no case here has an Optax twin;
    # tests/test_contrib.py runs each case against optax_fn on the same gradients.
    Algorithm(
        "lookahead",
        lookahead,
        refc.lookahead,
        default=a(0.01),
        variants={
            "reset_state": a(0.02, 3, 0.3, reset_state=True),
            "sgd": a(0.01, 4, 0.8, fast="sgd"),
        },
        optax_fn=optax_lookahead,
        forms=("default", "reset_state"),
        converges=(
            Converge("quadratic", a(0.3), 400),
            Converge("rosenbrock", a(0.05), 3000),
        ),
    ),
    Algorithm(
        "muon",
        gdtx.muon,
        ref_matrix.Muon,
        default=a(0.02),
        variants={
            # torch's conventions; the 3-d leaf k (2, 1, 3) is a stack of two 1 × 3 matrices
            "torch_style_stacked": a(
                0.02,
                beta=0.9,
                eps=1e-7,
                weight_decay=0.1,
                debias=False,
                fan_in_axis=-1,
                muon_mask=MinNdim(2),
            ),
            # the Gram form (only the stack k's 1 × 3 matrices take it here, with 1 × 1 Gram
            # matrices; test_matrix_optim checks it on larger ones): the same iteration,
            # so the same references
            "adaptive_rms_schedule": a(
                WARMUP_COSINE,
                nesterov=False,
                adaptive=True,
                consistent_rms=0.2,
                weight_decay=0.05,
                adam_weight_decay=0.01,
                adam_learning_rate=0.01,
                ns_method="gram",
            ),
        },
        optax_fn=optax.contrib.muon,
        optax={
            "default": SAME,
            "adaptive_rms_schedule": lambda: optax.contrib.muon(
                WARMUP_COSINE.build(optax),
                nesterov=False,
                adaptive=True,
                consistent_rms=0.2,
                weight_decay=0.05,
                adam_weight_decay=0.01,
                adam_learning_rate=0.01,
            ),
        },
        torch={
            # torch.optim.Muon takes the matrices (w), AdamW the rest; its Newton-Schulz
            # iteration recorded in float32 (record.py), its eps a clamp (here: added).
            "muon_adamw": Torch(
                "Muon",
                {"lr": 0.02, "momentum": 0.9},
                others="AdamW",
                others_kwargs={"lr": 0.01, "weight_decay": 0.01},
                newton_schulz_float32=True,
                build=lambda: gdtx.muon(
                    0.02,
                    beta=0.9,
                    eps=1e-7,
                    weight_decay=0.1,
                    debias=False,
                    fan_in_axis=-1,
                    other_optimizer=gdtx.adamw(0.01, weight_decay=0.01),
                ),
                label="muon(0.02, beta=0.9, eps=1e-7, weight_decay=0.1, debias=False, "
                "fan_in_axis=-1, other_optimizer=adamw(0.01, weight_decay=0.01))",
            ),
            "muon_match_rms_adamw": Torch(
                "Muon",
                {"lr": 0.05, "nesterov": False, "adjust_lr_fn": "match_rms_adamw"},
                others="AdamW",
                others_kwargs={"lr": 0.01},
                newton_schulz_float32=True,
                build=lambda: gdtx.muon(
                    0.05,
                    eps=1e-7,
                    weight_decay=0.1,
                    nesterov=False,
                    debias=False,
                    consistent_rms=0.2,
                    other_optimizer=gdtx.adamw(0.01, weight_decay=0.01),
                ),
                label="muon(0.05, eps=1e-7, weight_decay=0.1, nesterov=False, debias=False, "
                "consistent_rms=0.2, other_optimizer=adamw(0.01, weight_decay=0.01))",
            ),
        },
        dtypes=REAL_DTYPES,
        refuses_complex=True,
        forms=("default", "torch_style_stacked"),
        elementwise=False,
    ),
    Algorithm(
        "adafactor",
        gdtx.adafactor,
        ref_matrix.Adafactor,
        # min_dim_size_to_factor=3: w (3, 4) is factored; b, s and k (2, 1, 3) are not
        # (Optax would factor k's two largest dimensions from 2 down).
        default=a(0.05, min_dim_size_to_factor=3),
        variants={
            "momentum_decay_schedule": a(
                WARMUP_COSINE,
                min_dim_size_to_factor=3,
                decay_rate=0.5,
                clipping_threshold=None,
                multiply_by_parameter_scale=False,
                momentum=0.9,
                weight_decay_rate=0.005,
                weight_decay_mask=MASK,
            ),
            # torch's conventions: every matrix (and k's 1 × 3 ones) factored, relative
            # step min(α, 1/√t), ε₁ a floor
            "torch_style": a(
                0.3,
                min_dim_size_to_factor=1,
                weight_decay_rate=0.03,
                eps=TORCH_EPS1,
                relative_step=True,
                clamp_eps=True,
            ),
        },
        optax_fn=optax.adafactor,
        optax={"default": SAME, "momentum_decay_schedule": SAME},
        torch={
            # weight_decay λ' is decay by lr·λ' before the step: weight_decay_rate = lr·λ'.
            "adafactor": Torch(
                "Adafactor",
                {"lr": 0.3, "weight_decay": 0.1},
                a(
                    0.3,
                    min_dim_size_to_factor=1,
                    weight_decay_rate=0.03,
                    eps=TORCH_EPS1,
                    relative_step=True,
                    clamp_eps=True,
                ),
            ),
        },
        forms=("default", "torch_style"),
        elementwise=False,
        maximize=Torch(
            "Adafactor",
            {"lr": 0.1, "maximize": True},
            a(
                0.1,
                min_dim_size_to_factor=1,
                eps=TORCH_EPS1,
                relative_step=True,
                clamp_eps=True,
                maximize=True,
            ),
        ),
    ),
    Algorithm(
        "polyak_sgd",
        gdtx.polyak_sgd,
        refs.PolyakSGD,
        default=a(),
        variants={
            "sps_plus_schedule": a(
                0.5, S.exponential_decay(1.0, 10, 0.9), f_min=1.0, eps=1e-3, variant="sps+"
            ),
            "maximize": a(0.2, 2.0, f_min=-0.5, maximize=True),
        },
        optax_fn=optax.polyak_sgd,
        optax={"default": SAME, "sps_plus_schedule": SAME},
        forms=("default",),
        converges=(Converge("quadratic", a(), 100), Converge("rosenbrock", a(), 5000)),
        elementwise=False,
        needs_value=True,
    ),
    # L-BFGS without its line search (linesearch=None: θ ← θ − α·H·g), the form that runs
    # on a gradient sequence; the line searches evaluate an objective: tests/test_lbfgs.py.
    # The registry's random gradients are no function's gradients, so alone they give
    # pairs (s, y) of no consistent curvature: ⟨s, y⟩ comes near 0 or below it (such a pair
    # is kept, as in Optax) and ρ = 1/⟨s, y⟩ amplifies rounding. Measured on the float64
    # reference, each iterate perturbed by 6e-8 (relative, as float32 rounds it): with the
    # gradients alone, every α ≤ 1, m ≤ 10 and either γ moved the trajectory by 1e-3 or
    # more (with γ = ⟨s, y⟩/⟨y, y⟩ the steps also shrink to float32's rounding within ten
    # steps, and a BFGS update, blind to the size of s, then takes rounding for curvature).
    # So every case adds L2 first, g ← g + λθ (add_decayed_weights(λ) before lbfgs: y =
    # Δg + λs), with γ = 1 (scale_init_precond=False): these cases moved it by ≤ 1e-6 and
    # move at every one of the 120 steps. With γ = ⟨s, y⟩/⟨y, y⟩ no case tried (λ ≤ 20, α ≤
    # 2) stayed under 4e-6; test_lbfgs.py checks γ and γ₀ = min(1, 1/‖g‖) on objectives.
    Algorithm(
        "lbfgs",
        lbfgs,
        ref_lbfgs.Lbfgs,
        # Optax's α = 1 (learning_rate=None) and memory of 10, wrapping from step 11
        default=a(None, scale_init_precond=False, linesearch=None, weight_decay=2.0),
        variants={
            "memory_2": a(
                0.3, memory_size=2, scale_init_precond=False, linesearch=None, weight_decay=5.0
            ),
        },
        optax_fn=optax_lbfgs,
        optax={"default": SAME, "memory_2": SAME},
        dtypes=REAL_DTYPES,
        refuses_complex=True,
        converges=(Converge("quadratic", a(1.0, linesearch=None), 20),),
        elementwise=False,
    ),
]


ALGORITHMS: dict[str, Algorithm] = {alg.name: alg for alg in ALGORITHMS_LIST}
"""Name → algorithm."""

# ---------------------------------------------------------------------------------------
# The tables the tests parametrize over: (algorithm, case key) pairs by test id.


def cases() -> dict[str, tuple[Algorithm, str]]:
    """Every case (default and variants) of every algorithm, by id."""
    return {alg.case_id(k): (alg, k) for alg in ALGORITHMS_LIST for k in alg.case_keys()}


def optax_cases() -> dict[str, tuple[Algorithm, str]]:
    """The cases with an Optax twin, by id."""
    return {alg.case_id(k): (alg, k) for alg in ALGORITHMS_LIST for k in alg.optax}


def forms() -> dict[str, tuple[Algorithm, str]]:
    """Each algorithm's distinct forms, by id."""
    return {alg.case_id(k): (alg, k) for alg in ALGORITHMS_LIST for k in alg.forms}


def stateful_forms() -> dict[str, tuple[Algorithm, str]]:
    """The forms that keep a state per parameter (plain SGD keeps none), by id."""

    def stateful(alg: Algorithm, key: str) -> bool:
        params = {"w": jax.ShapeDtypeStruct((2, 3), jnp.float32)}
        state = jax.eval_shape(alg.make(key).init, params)
        return any(leaf.shape for leaf in jax.tree.leaves(state))

    return {name: case for name, case in forms().items() if stateful(*case)}


def torch_cases() -> dict[str, tuple[Algorithm, Torch]]:
    """The recorded torch cases, by case name."""
    return {name: (alg, t) for alg in ALGORITHMS_LIST for name, t in alg.torch.items()}


def torch_nets() -> dict[str, tuple[Algorithm, Torch]]:
    """004's network runs, by algorithm name."""
    return {alg.name: (alg, alg.torch_net) for alg in ALGORITHMS_LIST if alg.torch_net}


def loop_cases() -> dict[str, tuple[Algorithm, Loop]]:
    """The Optax training loops, by algorithm name."""
    return {alg.name: (alg, alg.loop) for alg in ALGORITHMS_LIST if alg.loop}


def maximize_cases() -> dict[str, tuple[Algorithm, Torch]]:
    """The ``maximize=True`` torch configurations, by algorithm name."""
    return {alg.name: (alg, alg.maximize) for alg in ALGORITHMS_LIST if alg.maximize}


def converge_cases() -> dict[str, tuple[Algorithm, Converge]]:
    """Every convergence run, by ``problem-algorithm[_label]``."""
    out = {}
    for alg in ALGORITHMS_LIST:
        for c in alg.converges:
            out[f"{c.problem}-{alg.name}{'_' + c.label if c.label else ''}"] = (alg, c)
    return out


# ---------------------------------------------------------------------------------------
# Shared inputs and runs: each case's float32 gdtx trajectory and float64 reference
# trajectory are computed once and checked by several tests (reference, Optax, float64).

STEPS = 120
GRADS = gradient_sequence(11, STEPS)
PARAMS = {k: v.astype(np.float32).astype(np.float64) for k, v in random_tree(12).items()}
VALUES = np.random.default_rng(13).uniform(0.2, 2.5, STEPS).astype(np.float32).astype(np.float64)
"""The losses given with :data:`GRADS` to the algorithms that read one (``needs_value``):
float32 numbers, so that float32, float64 and the reference see the same values."""


@functools.cache
def gdtx_path(case_id: str) -> dict[str, np.ndarray]:
    """The case's parameters after each step, float32, ``{leaf: (STEPS, …)}``."""
    alg, key = cases()[case_id]
    path, _ = trajectory(alg.make(key), to_f32(PARAMS), None, GRADS, values=alg.values())
    return path


@functools.cache
def reference_path(case_id: str) -> dict[str, np.ndarray]:
    """The case's float64 reference trajectory, ``{leaf: (STEPS, …)}``."""
    alg, key = cases()[case_id]
    return stack_trees(ref.run(alg.make_reference(key), PARAMS, GRADS, alg.values()))
