"""The transformation protocol: pytree dataclasses with pure ``init``/``update``.

A gdtx transformation is a frozen dataclass registered as a JAX pytree. Its
numeric hyperparameters (learning rate, decay rates, ε, weight decay, schedule
constants) are the pytree's leaves; its static choices (flags, structure,
dtypes) are declared with :func:`static` and live in the tree definition. So a
jitted step that takes the optimizer as an argument does not recompile when a
learning rate changes, and ``jax.vmap`` runs a batch of optimizers at once.

Every optimizer carries exactly one step counter, in :class:`OptState`, however
many blocks its chain has: it counts ``update`` calls. Blocks implement two methods:

- ``init_state(params)``: the block's own state (moments, accumulators);
- ``step(updates, state, params, ctx)``: one update, where ``ctx.count`` is the
  number of steps taken before this one (an ``int32`` scalar; t = count + 1) and
  ``ctx.extra`` holds ``update``'s keyword arguments.

The public ``init``/``update`` pair, the one Optax and Flax call, wraps them and
advances the counter. Containers pass the context on; a wrapper that runs its inner
transformation on another clock (accumulation, skipped steps) passes
``ctx.with_count(...)``: the one rule for counting.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, NamedTuple, dataclass_transform

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import ParamsSpec, check_against_spec, params_spec

Params = Any
"""A pytree of arrays: the model's parameters."""
Updates = Any
"""A pytree of arrays with the structure of the parameters."""
State = Any
"""A pytree: a transformation's state."""

_INT32_MAX = np.iinfo(np.int32).max


def static(default: Any = dataclasses.MISSING) -> Any:
    """Declares a dataclass field static: part of the tree definition, not a leaf.

    Static fields hold choices such as flags, dtypes and structure. They must be
    hashable, and changing one changes the compiled program.
    """
    return dataclasses.field(default=default, metadata={"static": True})


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, static))
class PytreeDataclass:
    """Subclasses become frozen dataclasses registered as pytrees.

    Fields declared with :func:`static` are static; all others are leaves.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True)(cls)
        _register(cls)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function returning the attributes ``names`` of an object as a tuple (in C)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        get = operator.attrgetter(names[0])
        return lambda x: (get(x),)
    return lambda x: ()


def _register(cls: type) -> None:
    """Registers a frozen dataclass as a pytree node whose tree definition names its class.

    Not ``jax.tree_util.register_dataclass``: in jax 0.10 its tree definitions compare
    equal for two classes with the same field names and static values (``Scale`` and any
    other one-field block), so ``jit``'s cache, which finds programs by the arguments'
    tree definitions, could hand one block the program compiled for another whenever their
    hashes collide. A custom node's definition differs by class.
    """
    fields = dataclasses.fields(cls)
    leaves = tuple(f.name for f in fields if not f.metadata.get("static", False))
    statics = tuple(f.name for f in fields if f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in leaves)
    get_leaves, get_statics = _getter(leaves), _getter(statics)

    def flatten_with_keys(x: Any) -> tuple[tuple[tuple[Any, Any], ...], tuple[Any, ...]]:
        return tuple(zip(keys, get_leaves(x), strict=True)), get_statics(x)

    def flatten(x: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        return get_leaves(x), get_statics(x)

    def unflatten(aux: tuple[Any, ...], children: Any) -> Any:
        return cls(
            **dict(zip(statics, aux, strict=True)), **dict(zip(leaves, children, strict=True))
        )

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)


class OptState(NamedTuple):
    """The state of an optimizer: a NamedTuple, as Optax's states are, so that Optax's
    state utilities (``optax.tree_utils.tree_get``, ``optax.tree_map_params``) read it.

    Attributes:
        count: ``update`` calls so far (``int32``), saturating at the int32 maximum.
        inner: the state of the transformation's blocks, e.g. a tuple with one
            entry per block of a chain.
        spec: the tree structure and shapes of the parameters the state was made for
            (``None``: not checked); a static pytree node without leaves.
    """

    count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]  (as in Optax)
    inner: Any
    spec: ParamsSpec | None = None


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` for an int32 counter, staying at the int32 maximum instead of wrapping."""
    return jnp.where(count < _INT32_MAX, count + 1, count)


@dataclasses.dataclass(frozen=True)
class Context:
    """What a block's ``step`` is told besides the updates, the state and the parameters.

    Containers hand it on unchanged; a wrapper that runs its inner transformation on
    a different clock (gradient accumulation, skipping bad steps) passes
    ``ctx.with_count(...)``. Nothing else rewrites the count.

    Attributes:
        count: the number of steps this block has taken before this one (``int32``
            scalar), so t = count + 1.
        extra: the keyword arguments given to ``update`` (e.g. ``value=loss``).
    """

    count: jax.Array
    extra: Mapping[str, Any]

    def with_count(self, count: jax.Array) -> Context:
        """The same context on another clock."""
        return dataclasses.replace(self, count=count)


class Transform(PytreeDataclass):
    """Base class of every gdtx transformation.

    Subclasses implement ``step`` (and ``init_state`` if they keep state); users
    call ``init`` and ``update``, which have Optax's signatures.

    The protocol, for every block and container alike:

    - ``init_state(params)`` returns the block's own state (default: none);
    - ``step(updates, state, params, ctx)`` returns the new updates and state;
      ``ctx.count`` is the number of steps before this one and ``ctx.extra`` holds
      ``update``'s keyword arguments. A block that reads one of them names it in
      ``extra_args``.

    ``OptState.count`` counts ``update`` calls. A wrapper that runs its inner
    transformation on another clock passes ``ctx.with_count(...)`` down and reports
    the same translation in ``parts``.
    """

    extra_args: ClassVar[tuple[str, ...]] = ()
    """The keyword arguments of ``update`` this block reads (e.g. ``("value",)``)."""
    reads_params: ClassVar[bool] = False
    """Whether this block reads the parameters (weight decay, trust ratio)."""

    @property
    def label(self) -> str:
        """The name errors use: the algorithm's (``adam``) or the class's."""
        return getattr(self, "name", "") or type(self).__name__

    # -- the protocol users call --------------------------------------------------
    def init(self, params: Params) -> OptState:
        """Returns the initial optimizer state for ``params``.

        Every leaf of ``params`` must be a floating-point or complex array (or
        ``None``, which gets no state); anything else raises ``TypeError``
        naming its key path.
        """
        spec = params_spec(f"{self.label}.init", params)
        return OptState(count=jnp.zeros([], jnp.int32), inner=self.init_state(params), spec=spec)

    def update(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        """Transforms ``updates`` (gradients at first) and advances the state by one step.

        Args:
            updates: a pytree with the structure of the parameters.
            state: the state returned by ``init`` or by the previous ``update``.
            params: the current parameters; required by blocks that read them
                (weight decay, trust ratio).
            **extra_args: read by the blocks that name them in ``extra_args`` (e.g.
                ``value=loss`` for ``reduce_on_plateau``), and passed to Optax
                transformations that take extra arguments.

        Returns:
            The transformed updates and the new state. ``updates=None`` (no gradients at
            all) returns ``None`` and the state unchanged: no step is taken, as Optax's
            stateless transformations map ``None`` to ``None``.
        """
        if updates is None:
            return None, state
        if not isinstance(state, OptState):
            raise TypeError(
                f"{self.label}.update: `state` must be the OptState returned by "
                f"init() or a previous update(), got {type(state).__name__}."
            )
        updates, params = _as_arrays(updates), _as_arrays(params)
        if params is None and self.needs_params():
            raise ValueError(
                f"{self.label} reads the parameters (for weight decay or a trust ratio): call "
                "update(updates, state, params) with params."
            )
        if state.spec is not None:
            owner = f"{self.label}.update"
            check_against_spec(owner, "updates", updates, state.spec)
            if params is not None:
                check_against_spec(owner, "params", params, state.spec)
        if extra_args:
            consumed = self.consumed_args()
            unknown = sorted(set(extra_args) - consumed) if consumed is not None else []
            if unknown:
                raise TypeError(
                    f"{self.label}.update: no block reads the keyword argument(s) "
                    f"{', '.join(map(repr, unknown))}; the blocks here read "
                    f"{sorted(consumed) if consumed else 'none'}."
                )
        ctx = Context(count=state.count, extra=extra_args)
        new_updates, inner = self.step(updates, state.inner, params, ctx)
        if jax.tree.structure(new_updates) == jax.tree.structure(updates):
            new_updates = jax.tree.map(_like, new_updates, updates)
        return new_updates, OptState(
            count=safe_increment(state.count), inner=inner, spec=state.spec
        )

    def current_learning_rate(self, state: OptState) -> jax.Array:
        """The learning rate α the most recent update applied, for logging.

        Before the first update it is the rate the first update will apply.
        Reads the transformation's single ``scale_by_learning_rate`` block at the
        count that block sees, and evaluates its schedule; raises ``ValueError``
        if there is none or several.
        """
        n = len(list(self.learning_rate_blocks()))
        if n != 1:
            raise ValueError(
                f"current_learning_rate: expected exactly one scale_by_learning_rate block in "
                f"{self.label}, found {n}."
            )
        [(block, count)] = self._learning_rate_counts(state.inner, jnp.asarray(state.count))
        return block.rate_at(jnp.maximum(count - 1, 0))

    def learning_rate_blocks(self) -> Iterator[Any]:
        """Yields the ``scale_by_learning_rate`` blocks inside this transformation."""
        if hasattr(self, "rate_at"):
            yield self
        for child in self.children():
            yield from child.learning_rate_blocks()

    def _learning_rate_counts(self, state: State, count: jax.Array) -> Iterator[tuple[Any, Any]]:
        """(learning-rate block, the count it has seen) for each one inside."""
        if hasattr(self, "rate_at"):
            yield self, count
        for child, child_state, child_count in self.parts(state, count):
            yield from child._learning_rate_counts(child_state, child_count)

    def children(self) -> Iterator[Transform]:
        """The transformations this one holds in its fields (a chain's blocks, a wrapper's
        inner transformation)."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            for child in value if isinstance(value, tuple) else (value,):
                if isinstance(child, Transform):
                    yield child

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        """The transformations held inside, each with its state and the count it has seen.

        ``count`` is the number of steps this transformation has seen. Containers
        override this; a wrapper on another clock translates the count exactly as
        its ``step`` does. The default (a block) holds none.
        """
        del state, count
        return iter(())

    def needs_params(self) -> bool:
        """Whether a block inside reads the parameters."""
        return self.reads_params or any(c.needs_params() for c in self.children())

    def consumed_args(self) -> frozenset[str] | None:
        """The ``update`` keywords that some block inside reads; ``None``: any keyword."""
        names = set(self.extra_args)
        for child in self.children():
            inner = child.consumed_args()
            if inner is None:
                return None
            names |= inner
        return frozenset(names)

    def packing_keys(self, params: Params) -> list[tuple[Any, ...]]:
        """One hashable key per leaf of ``params``: leaves this transformation treats
        differently (masked or not, one parameter group or another) get different keys.

        ``gdtx.packing(params, opt)`` never puts leaves with different keys in one
        buffer. The default combines the keys of the transformations held inside;
        blocks with masks or groups override it, and so do blocks that reduce along
        the axes of matrices, with :func:`~gdtx._matrix.shape_keys` (a buffer per
        matrix shape, so that their reductions read whole buffers).
        """
        keys: list[tuple[Any, ...]] = [() for _ in jax.tree.leaves(params)]
        for child in self.children():
            keys = [a + b for a, b in zip(keys, child.packing_keys(params), strict=True)]
        return keys

    # -- what subclasses implement ---------------------------------------------------
    def init_state(self, params: Params) -> State:
        """The block's own initial state (without the step counter); none by default."""
        del params
        return EmptyState()

    def step(
        self, updates: Updates, state: State, params: Params | None, ctx: Context
    ) -> tuple[Updates, State]:
        """One update. ``ctx.count`` is the number of steps before this one (t = count + 1)."""
        raise NotImplementedError


def _as_arrays(tree: Any) -> Any:
    """``tree`` with Python and NumPy numbers as JAX arrays (arrays and tracers as they are)."""
    if tree is None:
        return None
    return jax.tree.map(lambda x: x if isinstance(x, jax.Array) else jnp.asarray(x), tree)


def _like(new: Any, old: Any) -> Any:
    """``new`` in ``old``'s dtype: blocks compute in at least float32, and ``update``
    returns each leaf in its gradient's dtype."""
    if not (hasattr(new, "dtype") and hasattr(old, "dtype")):
        return new
    dtype = jax.dtypes.canonicalize_dtype(old.dtype)  # NumPy float64 is float32 without x64
    return new if new.dtype == dtype else new.astype(dtype)


class EmptyState(NamedTuple):
    """The state of a block that keeps none."""


# ---------------------------------------------------------------------------------------
# Applying updates


def apply_updates(params: Params, updates: Updates) -> Params:
    """Returns ``params + updates``, each result in its parameter's dtype.

    ``None`` leaves (frozen or absent parameters) stay ``None``.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> gdtx.apply_updates({"w": jnp.ones(2)}, {"w": jnp.full(2, -0.5)})
        {'w': Array([0.5, 0.5], dtype=float32)}
    """

    def add(p: Any, u: Any) -> Any:
        p = jnp.asarray(p)
        return (p + jnp.asarray(u).astype(p.dtype)).astype(p.dtype)

    return jax.tree.map(add, params, updates)


# ---------------------------------------------------------------------------------------
# Dtype helpers shared by the blocks


def compute_dtype(dtype: Any) -> Any:
    """The dtype a block computes in: at least float32 (complex64 for complex leaves).

    Chosen by size rather than by promotion, so it holds under strict dtype promotion.
    """
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.inexact) and dtype.itemsize >= 4:
        return dtype
    return jnp.dtype(jnp.float32)


def hyper(value: Any, dtype: Any) -> jax.Array:
    """A hyperparameter cast to ``dtype`` (Python numbers, arrays and tracers alike)."""
    return jnp.asarray(value, dtype=dtype)
