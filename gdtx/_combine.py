"""Combinators: ``chain``, ``fork`` and ``masked``, and the adapter for Optax transformations."""

from __future__ import annotations

import collections
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

from ._base import Context, EmptyState, Params, State, Transform, Updates, static
from ._layout import is_packed, merge_leaves, select_leaves
from ._masks import MaskLike, freeze_mask, mask_leaves
from ._tree import map_leaves, to_compute


class Chain(Transform):
    """Applies transformations one after another, sharing one step counter.

    Its state is a tuple with one entry per transformation, in order.

    Attributes:
        transforms: the transformations, applied left to right.
        name: static: the algorithm's name (``"adam"``), used in error messages.
    """

    transforms: tuple[Transform, ...]
    name: str = static(default="")

    def init_state(self, params: Params) -> tuple[State, ...]:
        return tuple(tx.init_state(params) for tx in self.transforms)

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        return ((tx, s, count) for tx, s in zip(self.transforms, state, strict=True))

    def step(
        self, updates: Updates, state: tuple[State, ...], params: Params | None, ctx: Context
    ) -> tuple[Updates, tuple[State, ...]]:
        if not isinstance(state, tuple) or len(state) != len(self.transforms):
            raise ValueError(
                f"chain: the state holds {len(state) if isinstance(state, tuple) else type(state)}"
                f" entries for {len(self.transforms)} transformations; was it made by this"
                " chain's init()?"
            )
        new_state = []
        for tx, s in zip(self.transforms, state, strict=True):
            updates, s = tx.step(updates, s, params, ctx)
            new_state.append(s)
        return updates, tuple(new_state)


def chain(*transforms: Any) -> Chain:
    """Chains transformations into one, applied left to right.

    Accepts gdtx transformations and Optax ``GradientTransformation`` objects
    alike (an Optax transformation keeps its own state, counter included).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.chain(gdtx.scale_by_adam(), gdtx.scale_by_learning_rate(1e-3))
        >>> state = tx.init({"w": jnp.zeros(3)})
        >>> updates, state = tx.update({"w": jnp.ones(3)}, state)
        >>> updates["w"]
        Array([-0.001, -0.001, -0.001], dtype=float32)
    """
    return Chain(tuple(as_transform(tx) for tx in transforms))


class OptaxTransform(Transform):
    """Adapts an Optax ``GradientTransformation`` (any object with ``init``/``update``).

    The wrapped object is static: it is not a pytree of hyperparameters.
    """

    transform: Any = static()

    def init_state(self, params: Params) -> State:
        _refuse_packed(params)
        return self.transform.init(params)

    def consumed_args(self) -> frozenset[str] | None:
        # An Optax transformation that takes extra arguments may read any keyword.
        return None if _takes_keywords(self.transform.update) else frozenset()

    def step(
        self, updates: Updates, state: State, params: Params | None, ctx: Context
    ) -> tuple[Updates, State]:
        _refuse_packed(updates)
        if _takes_keywords(self.transform.update):
            return self.transform.update(updates, state, params, **ctx.extra)
        return self.transform.update(updates, state, params)


@functools.lru_cache(maxsize=256)
def _takes_keywords(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts arbitrary keyword arguments (Optax's extra-args protocol)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def _refuse_packed(tree: Any) -> None:
    if is_packed(tree):
        raise TypeError(
            "An Optax transformation cannot run on packed parameters: it would see each "
            "buffer as one array, so its per-leaf operations (masks, trust ratios, per-leaf "
            "clipping) would silently span many leaves. Use the gdtx block instead."
        )


def as_transform(tx: Any) -> Transform:
    """Returns ``tx`` as a gdtx transformation, adapting Optax objects."""
    if isinstance(tx, Transform):
        return tx
    if callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None)):
        return OptaxTransform(tx)
    raise TypeError(
        f"expected a gdtx transformation or an object with init/update (such as an Optax"
        f" GradientTransformation), got {type(tx).__name__}."
    )


class Masked(Transform):
    """Applies ``inner`` to the masked leaves only; other leaves pass unchanged.

    The inner transformation sees the selected leaves as a list and keeps state
    for them alone.

    Attributes:
        inner: the transformation applied to the selected leaves.
        mask: a pytree of bools with the parameters' structure, or a function of
            the parameters returning one. True selects a leaf.
    """

    inner: Transform
    mask: Any = static()

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", freeze_mask(self.mask))

    def init_state(self, params: Params) -> State:
        flags = mask_leaves("masked", self.mask, params)
        return self.inner.init_state(select_leaves("masked", params, flags))

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        yield self.inner, state, count

    def step(
        self, updates: Updates, state: State, params: Params | None, ctx: Context
    ) -> tuple[Updates, State]:
        flags = mask_leaves("masked", self.mask, updates)
        chosen = select_leaves("masked", updates, flags)
        chosen_params = None if params is None else select_leaves("masked", params, flags)
        new_chosen, state = self.inner.step(chosen, state, chosen_params, ctx)
        return merge_leaves(updates, flags, new_chosen), state

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        flags = mask_leaves("masked", self.mask, params)
        inner = iter(self.inner.packing_keys(select_leaves("masked", params, flags)))
        return [("masked", True, *next(inner)) if f else ("masked", False) for f in flags]


def masked(inner: Any, mask: MaskLike) -> Masked:
    """Applies ``inner`` only to the leaves where ``mask`` is True.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.masked(gdtx.scale(0.0), {"w": True, "b": False})
        >>> g = {"w": jnp.ones(2), "b": jnp.ones(2)}
        >>> tx.update(g, tx.init(g))[0]["b"]
        Array([1., 1.], dtype=float32)
    """
    return Masked(as_transform(inner), mask)


# ---------------------------------------------------------------------------------------
# Parallel branches


def product(*xs: jax.Array) -> jax.Array:
    """x₁·x₂·…: the branches' outputs multiplied (e.g. m̂ times RMSProp's 1/(√v̂ + ε))."""
    out = xs[0]
    for x in xs[1:]:
        out = out * x.astype(out.dtype)
    return out


def total(*xs: jax.Array) -> jax.Array:
    """x₁ + x₂ + …: the branches' outputs added (e.g. AdEMAMix's m̂₁ + α·m₂)."""
    out = xs[0]
    for x in xs[1:]:
        out = out + x.astype(out.dtype)
    return out


def variance(v: jax.Array, m: jax.Array) -> jax.Array:
    """v − |m|², clamped at 0 against rounding: the variance from the second moment v and
    the first moment m (in that order of branches)."""
    m_sq = jnp.real(m) ** 2 + jnp.imag(m) ** 2 if jnp.iscomplexobj(m) else m * m
    return jnp.maximum(v - m_sq.astype(v.dtype), 0)


class Fork(Transform):
    r"""Runs several transformations on the same update and combines their outputs.

    Every branch sees the incoming update g, the parameters and the one step
    counter; the outputs are combined leaf by leaf in at least float32 (``update``
    returns the final updates in the gradients' dtypes):

    $$ \text{out} = \operatorname{combine}(b_1(g), b_2(g), \ldots) $$

    So Adam is Momentum and RMSProp side by side: the bias-corrected first moment
    m̂ times the preconditioner 1/(√v̂ + ε).

    Attributes:
        branches: the transformations run side by side.
        combine: a function of one leaf from each branch (static): :func:`product`
            (the default), :func:`total` or :func:`variance`, or any hashable function.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.fork(gdtx.identity(), gdtx.scale(3.0))  # g · 3g
        >>> g = jnp.array([2.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([12.], dtype=float32)
    """

    branches: tuple[Transform, ...]
    combine: Callable[..., jax.Array] = static(default=product)

    def init_state(self, params: Params) -> tuple[State, ...]:
        return tuple(tx.init_state(params) for tx in self.branches)

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        return ((tx, s, count) for tx, s in zip(self.branches, state, strict=True))

    def step(
        self, updates: Updates, state: tuple[State, ...], params: Params | None, ctx: Context
    ) -> tuple[Updates, tuple[State, ...]]:
        outs, new_state = [], []
        for tx, s in zip(self.branches, state, strict=True):
            out, s = tx.step(updates, s, params, ctx)
            outs.append(out)
            new_state.append(s)

        def leaf(*xs: jax.Array) -> jax.Array:
            return self.combine(*[to_compute(x) for x in xs])

        return map_leaves(leaf, *outs), tuple(new_state)


def fork(*branches: Any, combine: Callable[..., jax.Array] = product) -> Fork:
    """Runs transformations side by side on the same update; see :class:`Fork`.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> momentum = gdtx.ema(0.9)  # m̂: the EWMA of g, bias-corrected
        >>> rms = gdtx.chain(gdtx.ema(0.999, moment=2), gdtx.inverse_root(eps=1e-8))  # 1/(√v̂ + ε)
        >>> adam = gdtx.fork(momentum, rms)  # m̂ / (√v̂ + ε): gdtx.scale_by_adam()
        >>> g = jnp.array([0.5, -2.0])
        >>> adam.update(g, adam.init(g))[0]
        Array([ 1., -1.], dtype=float32)
    """
    if len(branches) < 2:
        raise ValueError(f"fork: needs at least two branches, got {len(branches)}.")
    return Fork(tuple(as_transform(tx) for tx in branches), combine)


class Identity(Transform):
    """Passes the updates through unchanged: out = g.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.identity()
        >>> tx.update(jnp.ones(2), tx.init(jnp.ones(2)))[0]
        Array([1., 1.], dtype=float32)
    """

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        return updates, state


identity = Identity


class NamedChain(Transform):
    """A chain whose state is a dict keyed by the transformations' names.

    Applies the transformations left to right, sharing one step counter, as
    :class:`Chain` does; ``state.inner[name]`` is the state of the transformation
    called ``name`` (Optax's ``named_chain`` state is that dict itself).

    Attributes:
        transforms: the transformations, applied left to right.
        names: static: their names, unique, in the same order.
    """

    transforms: tuple[Transform, ...]
    names: tuple[str, ...] = static()

    def __post_init__(self) -> None:
        if len(self.names) != len(self.transforms):
            raise ValueError(
                f"named_chain: {len(self.names)} names for {len(self.transforms)} transformations."
            )
        repeated = sorted({n for n in self.names if self.names.count(n) > 1})
        if repeated:
            raise ValueError(f"named_chain: names must be unique, repeated: {repeated}.")

    def init_state(self, params: Params) -> dict[str, State]:
        # An OrderedDict, as Optax's: JAX keeps its order when it rebuilds the state
        # (a plain dict comes back sorted by key).
        pairs = zip(self.names, self.transforms, strict=True)
        return collections.OrderedDict((n, tx.init_state(params)) for n, tx in pairs)

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        return ((tx, state[n], count) for n, tx in zip(self.names, self.transforms, strict=True))

    def step(
        self, updates: Updates, state: dict[str, State], params: Params | None, ctx: Context
    ) -> tuple[Updates, dict[str, State]]:
        if not isinstance(state, dict) or set(state) != set(self.names):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(
                f"named_chain: the state holds {got}, not the names {list(self.names)}; was "
                "it made by this chain's init()?"
            )
        new_state = collections.OrderedDict()
        for name, tx in zip(self.names, self.transforms, strict=True):
            updates, new_state[name] = tx.step(updates, state[name], params, ctx)
        return updates, new_state


def named_chain(*args: tuple[str, Any]) -> NamedChain:
    """Chains ``(name, transformation)`` pairs; the state is keyed by name.

    See :class:`NamedChain`. Accepts gdtx and Optax transformations alike.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.named_chain(("clip", gdtx.clip(1.0)), ("adam", gdtx.adam(0.1)))
        >>> state = tx.init(jnp.zeros(2))
        >>> list(state.inner)
        ['clip', 'adam']
        >>> updates, state = tx.update(jnp.array([5.0, -0.5]), state)
        >>> updates
        Array([-0.1,  0.1], dtype=float32)
    """
    pairs = []
    for arg in args:
        if not (isinstance(arg, tuple) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TypeError(
                f"named_chain: expected (name, transformation) pairs, got {type(arg).__name__}."
            )
        pairs.append(arg)
    return NamedChain(tuple(as_transform(tx) for _, tx in pairs), tuple(n for n, _ in pairs))
