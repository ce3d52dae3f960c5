"""Recording an optimizer's path: parameters, loss, gradients and named state, step by step.

:func:`record` runs an optimizer for N steps as one jitted ``lax.scan`` and
returns a :class:`Trajectory` whose arrays carry a leading step axis.
:func:`record_many` does the same for several optimizers, running those that
differ only in hyperparameters (equal tree structure) as one ``vmap``-ed
program. Used for teaching: draw the path, watch the moments m and v and the
learning rate evolve, compare algorithms on the same problem.

The recording follows the animations of Ruder, "An overview of gradient descent
optimization algorithms" (arXiv:1609.04747), and the state plots of Goh, "Why
Momentum Really Works" (Distill, 2017).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from ._base import Transform, apply_updates

__all__ = ["Trajectory", "record", "record_many"]

K = TypeVar("K", bound=Hashable)


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """What :func:`record` saw, one entry per step along the leading axis.

    Index k is "after k updates": entry 0 is the start. With N steps:

    Attributes:
        params: the parameters θ₀ … θ_N (N + 1 entries; a pytree like the
            parameters, each leaf with a leading axis).
        loss: the objective at θ₀ … θ_N (N + 1 entries), or ``None`` when the
            run used mini-batches and no ``objective`` was given.
        grads: the gradients g₁ … g_N that the N updates used (N entries);
            ``grads[k]`` was taken at ``params[k]``.
        state: the optimizer state after 0 … N updates (N + 1 entries): an
            ``OptState`` whose leaves carry the step axis.
        learning_rate: α from ``opt.current_learning_rate`` at each recorded
            state (N + 1 entries; entry k ≥ 1 is the rate update k applied,
            entry 0 the rate the first update will apply), or ``None`` when the
            optimizer has no single ``scale_by_learning_rate`` block.
        batch_loss: with mini-batches, the loss each update saw on its batch
            (N entries), else ``None``.

    Example:
        >>> import gdtx
        >>> from gdtx import problems
        >>> traj = gdtx.record(gdtx.adam(0.1), problems.quadratic, steps=3)
        >>> traj.params.shape, traj.loss.shape, traj.grads.shape
        ((4, 2), (4,), (3, 2))
        >>> traj.field("m").shape  # Adam's first moment after 0, 1, 2, 3 updates
        (4, 2)
        >>> sorted(traj.fields("v"))
        ['inner[0][1][0][0].v']
    """

    params: Any
    loss: Any
    grads: Any
    state: Any
    learning_rate: Any
    batch_loss: Any

    @property
    def steps(self) -> int:
        """N, the number of updates recorded."""
        return int(jax.tree.leaves(self.grads)[0].shape[0])

    def fields(self, name: str) -> dict[str, Any]:
        """Every state field called ``name`` (``"m"``, ``"v"``, ``"d"``, ``"count"``…), by path.

        Walks the recorded state (named tuples and dataclasses such as a
        chain's blocks' states) and collects each attribute called ``name``;
        values keep the leading step axis. Keys are paths such as
        ``"inner[1].v"`` (the ``v`` of the chain's second block).
        """
        found: dict[str, Any] = {}
        params_def = jax.tree.structure(self.params)
        _collect(self.state, name, "", params_def, found)
        return found

    def field(self, name: str) -> Any:
        """The one state field called ``name``; raises ``KeyError`` if there are none or several.

        Use :meth:`fields` when several blocks keep a field of that name.
        """
        found = self.fields(name)
        if len(found) != 1:
            where = ", ".join(found) or "none"
            raise KeyError(
                f"Trajectory.field: expected one state field named {name!r}, found "
                f"{len(found)} ({where}); use fields({name!r}) to get them all by path."
            )
        return next(iter(found.values()))

    def first_step_below(self, threshold: float, *, stay: bool = False) -> int | None:
        """The first k with loss[k] < ``threshold`` (k updates taken), or ``None``.

        With ``stay=True``, the first k from which the loss stays below ``threshold``
        to the end of the recording (a run that dips below and bounces back does
        not count until it settles).

        Example:
            >>> import jax.numpy as jnp, gdtx
            >>> traj = gdtx.record(gdtx.sgd(0.25), lambda x: jnp.sum(x**2), jnp.ones(1), 5)
            >>> traj.first_step_below(0.1)  # loss 1, 1/4, 1/16, …
            2
        """
        if self.loss is None:
            raise ValueError(
                "first_step_below: this trajectory has no loss (mini-batches without `objective`)."
            )
        below = np.asarray(self.loss) < threshold
        if stay:
            below = np.flip(np.logical_and.accumulate(np.flip(below)))
        hits = np.nonzero(below)[0]
        return int(hits[0]) if hits.size else None


jax.tree_util.register_dataclass(
    Trajectory,
    data_fields=["params", "loss", "grads", "state", "learning_rate", "batch_loss"],
    meta_fields=[],
)


def _children(node: Any) -> list[tuple[Any, Any]]:
    """The immediate children of a pytree node with their keys (``[]`` for a leaf)."""
    leaves = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
    if len(leaves) == 1 and leaves[0][0] == ():
        return []  # ``node`` is itself a leaf
    return [(path[0], child) for path, child in leaves]


def _collect(node: Any, name: str, prefix: str, params_def: Any, found: dict[str, Any]) -> None:
    """Adds each attribute ``name`` below ``node`` to ``found``, keyed by its path."""
    if node is None or jax.tree.structure(node) == params_def:
        return  # a per-parameter value (such as a moment), not a container of state
    for key, child in _children(node):
        path = prefix + jax.tree_util.keystr((key,))
        if isinstance(key, jax.tree_util.GetAttrKey) and key.name == name:
            if child is not None:
                found[path.lstrip(".")] = child
            continue
        _collect(child, name, path, params_def, found)


def _pad_one(batch: Any) -> jax.Array:
    """The batches with one more at the end (a copy of the first, or zeros if there are none)."""
    batch = jnp.asarray(batch)
    extra = batch[:1] if batch.shape[0] else jnp.zeros((1, *batch.shape[1:]), batch.dtype)
    return jnp.concatenate([batch, extra])


def _learning_rate(opt: Any, states: Any) -> Any:
    """α at each recorded state, or ``None`` without exactly one learning-rate block."""
    if not isinstance(opt, Transform) or len(list(opt.learning_rate_blocks())) != 1:
        return None
    return jax.vmap(opt.current_learning_rate)(states)


def _run(
    opt: Any,
    params: Any,
    batches: Any,
    *,
    loss_fn: Callable[..., jax.Array],
    objective: Callable[[Any], jax.Array] | None,
    steps: int,
) -> Trajectory:
    """The recording itself: one ``lax.scan`` over the steps (traced under ``jit``)."""
    use_batches = batches is not None
    state0 = opt.init(params)
    if use_batches:  # one batch more, for the extra step below; its update is discarded
        batches = jax.tree.map(_pad_one, batches)

    def body(carry: Any, batch: Any) -> tuple[Any, Any]:
        p, s = carry
        args = (p, batch) if use_batches else (p,)
        value, g = jax.value_and_grad(loss_fn)(*args)
        updates, new_s = opt.update(g, s, p)
        return (apply_updates(p, updates), new_s), (p, s, g, value)

    # N + 1 iterations record θ₀ … θ_N with their states and losses in one pass (the last
    # iteration's update is not used): cheaper to compile than appending the end point.
    _, (path, states, gs, values) = jax.lax.scan(body, (params, state0), batches, length=steps + 1)
    loss = values if objective is None else jax.vmap(objective)(path)
    return Trajectory(
        params=path,
        loss=None if use_batches and objective is None else loss,
        grads=jax.tree.map(lambda g: g[:steps], gs),
        state=states,
        learning_rate=_learning_rate(opt, states),
        batch_loss=values[:steps] if use_batches else None,
    )


_STATIC = ("loss_fn", "objective", "steps")
_run_dynamic = jax.jit(_run, static_argnames=_STATIC)
_run_static = jax.jit(_run, static_argnames=("opt", *_STATIC))


def _run_batched_impl(opts: Any, params: Any, batches: Any, **static: Any) -> Trajectory:
    return jax.vmap(lambda o: _run(o, params, batches, **static))(opts)


_run_batched = jax.jit(_run_batched_impl, static_argnames=_STATIC)


def _prepare(
    loss_fn: Callable[..., jax.Array], params: Any, steps: int | None, batches: Any
) -> tuple[Any, int]:
    """The start (a :class:`Problem`'s own when ``params`` is ``None``) and the step count."""
    if params is None:
        start = getattr(loss_fn, "x0", None)
        if start is None:
            raise ValueError(
                "record: `params` is required unless `loss_fn` is a gdtx.problems.Problem, "
                "which supplies its start."
            )
        params = start()
    params = jax.tree.map(jnp.asarray, params)
    if batches is not None:
        lengths = {int(np.shape(x)[0]) for x in jax.tree.leaves(batches)}
        if len(lengths) != 1:
            raise ValueError(
                f"record: every leaf of `batches` needs the same leading (step) axis, got "
                f"lengths {sorted(lengths)}."
            )
        (n,) = lengths
        if steps is not None and steps != n:
            raise ValueError(f"record: `steps`={steps} but `batches` holds {n} batches.")
        steps = n
    if steps is None or int(steps) < 0:
        raise ValueError(f"record: `steps` must be a non-negative integer, got {steps!r}.")
    return params, int(steps)


def record(
    opt: Any,
    loss_fn: Callable[..., jax.Array],
    params: Any = None,
    steps: int | None = None,
    *,
    batches: Any = None,
    objective: Callable[[Any], jax.Array] | None = None,
) -> Trajectory:
    """Runs ``opt`` on ``loss_fn`` for ``steps`` updates and records every step.

    One compiled ``lax.scan`` does the whole run: at each step the gradient of
    ``loss_fn`` at θ_k, one ``opt.update``, θ_{k+1} = θ_k + update. The
    optimizer is a ``jit`` argument, so recording the same algorithm with
    another learning rate does not recompile (the loss function is static: a
    new function compiles anew).

    Args:
        opt: a gdtx optimizer (or any object with Optax's ``init``/``update``;
            it is then held static and ``learning_rate`` is ``None``).
        loss_fn: ``loss_fn(params)``, or ``loss_fn(params, batch)`` with
            ``batches``; a :class:`gdtx.problems.Problem` works as is.
        params: the starting parameters (a pytree); ``None`` uses a
            ``Problem``'s standard start.
        steps: the number of updates N (taken from ``batches`` when given).
        batches: a pytree whose leaves have a leading axis of length N; update
            k sees batch k. For mini-batch and stochastic gradient descent.
        objective: a function of the parameters recorded as ``loss`` at every
            step (for example the full-data loss of a mini-batch run). Defaults
            to ``loss_fn`` without ``batches``.

    Returns:
        The :class:`Trajectory`, including the start (N + 1 parameter points).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> traj = gdtx.record(gdtx.sgd(0.25), lambda x: jnp.sum(x**2), jnp.array([1.0]), 3)
        >>> traj.params[:, 0]  # θ ← θ − 0.25·2θ = θ/2
        Array([1.   , 0.5  , 0.25 , 0.125], dtype=float32)
        >>> traj.loss
        Array([1.      , 0.25    , 0.0625  , 0.015625], dtype=float32)
    """
    params, n = _prepare(loss_fn, params, steps, batches)
    static = {"loss_fn": loss_fn, "objective": objective, "steps": n}
    if isinstance(opt, Transform):
        return _run_dynamic(opt, params, batches, **static)
    return _run_static(opt, params, batches, **static)


def _stack(trees: list[Any]) -> Any:
    """Stacks optimizers of one tree structure leaf by leaf (NumPy's promotion)."""
    return jax.tree.map(lambda *xs: jnp.asarray(np.stack([np.asarray(x) for x in xs])), *trees)


def record_many(
    optimizers: Mapping[K, Any],
    loss_fn: Callable[..., jax.Array],
    params: Any = None,
    steps: int | None = None,
    *,
    batches: Any = None,
    objective: Callable[[Any], jax.Array] | None = None,
    vectorize: bool = True,
) -> dict[K, Trajectory]:
    """Records several optimizers from the same start: :func:`record` for each.

    Optimizers with the same tree structure (the same algorithm and flags,
    differing only in numeric hyperparameters such as learning rates or
    decay rates) run together as one ``jax.vmap``-ed program; each other
    optimizer runs on its own.

    Args:
        optimizers: the optimizers by name (any hashable key; kept in the result).
        loss_fn: as in :func:`record`.
        params: as in :func:`record`.
        steps: as in :func:`record`.
        batches: as in :func:`record` (every optimizer sees the same batches).
        objective: as in :func:`record`.
        vectorize: set False to run every optimizer separately.

    Returns:
        A dict of :class:`Trajectory`, one per name, in the given order.

    Example:
        >>> import gdtx
        >>> from gdtx import problems
        >>> # Three learning rates, one compiled program; 2/λ_max = 0.5 is the stability limit.
        >>> opts = {f"α = {lr}": gdtx.sgd(lr) for lr in (0.1, 0.45, 0.55)}
        >>> trajs = gdtx.record_many(opts, problems.quadratic, steps=50)
        >>> {k: bool(t.loss[-1] < t.loss[0]) for k, t in trajs.items()}
        {'α = 0.1': True, 'α = 0.45': True, 'α = 0.55': False}
    """
    start, n = _prepare(loss_fn, params, steps, batches)
    static = {"loss_fn": loss_fn, "objective": objective, "steps": n}
    groups: dict[Any, list[K]] = {}
    for name, opt in optimizers.items():
        key = (
            jax.tree.structure(opt) if vectorize and isinstance(opt, Transform) else ("alone", name)
        )
        groups.setdefault(key, []).append(name)
    out: dict[K, Trajectory] = {}
    for names in groups.values():
        try:
            stacked = _stack([optimizers[k] for k in names]) if len(names) > 1 else None
        except ValueError:  # leaves of different shapes: no common batch
            stacked = None
        if stacked is None:
            for name in names:
                out[name] = record(
                    optimizers[name], loss_fn, start, n, batches=batches, objective=objective
                )
            continue
        runs = _run_batched(stacked, start, batches, **static)
        for i, name in enumerate(names):
            out[name] = jax.tree.map(lambda x, i=i: x[i], runs)
    return {name: out[name] for name in optimizers}
