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
import reference_cat_matrix as ref_matrix
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
            return v.build(lib) if isinstance(v, Sched) else v

        return tuple(map(one, self.args)), {k: one(v) for k, v in self.kwargs.items()}

    def call(self, fn: Callable[..., Any], lib: Any) -> Any:
        args, kwargs = self.resolve(lib)
        return fn(*args, **kwargs)

    def with_learning_rate(self, lr: Any) -> Args:
        """The same call with the first argument (the learning rate) replaced."""
        return Args(lr, *self.args[1:], **self.kwargs)

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
    """

    name: str
    build: Callable[..., gdtx.Transform]
    reference: Callable[..., Any]
    default: Args
    variants: Mapping[str, Args] = dataclasses.field(default_factory=dict)
    optax_fn: Callable[..., Any] | None = None
    optax: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    torch: Mapping[str, Torch] = dataclasses.field(default_factory=dict)
    torch_net: Torch | None = None
    dtypes: frozenset[str] = ALL_DTYPES
    forms: tuple[str, ...] = ("default",)
    converges: tuple[Converge, ...] = ()
    elementwise: bool = True
    loop: Loop | None = None
    maximize: Torch | None = None

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
                muon_mask=gdtx.ndim_mask(2),
            ),
            "adaptive_rms_schedule": a(
                WARMUP_COSINE,
                nesterov=False,
                adaptive=True,
                consistent_rms=0.2,
                weight_decay=0.05,
                adam_weight_decay=0.01,
                adam_learning_rate=0.01,
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
        dtypes=REAL_DTYPES,
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


@functools.cache
def gdtx_path(case_id: str) -> dict[str, np.ndarray]:
    """The case's parameters after each step, float32, ``{leaf: (STEPS, …)}``."""
    alg, key = cases()[case_id]
    path, _ = trajectory(alg.make(key), to_f32(PARAMS), None, GRADS)
    return path


@functools.cache
def reference_path(case_id: str) -> dict[str, np.ndarray]:
    """The case's float64 reference trajectory, ``{leaf: (STEPS, …)}``."""
    alg, key = cases()[case_id]
    return stack_trees(ref.run(alg.make_reference(key), PARAMS, GRADS))
