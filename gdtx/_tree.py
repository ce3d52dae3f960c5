"""Tree helpers shared by the blocks: zeros, multi-output maps, tree-wide sums and the
global norm."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.core import Tracer

from ._base import compute_dtype, hyper


def map_leaves(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """``jax.tree.map(fn, tree, *rest)``, tracing ``fn`` once per leaf signature.

    While a program is being traced (under ``jit``, inside ``lax.scan``, ``vmap`` or
    ``grad``), ``fn`` is wrapped in ``jax.jit``, so a tree of many equally shaped leaves
    traces the arithmetic once and calls it per leaf: tracing and lowering a step over a
    thousand leaves then costs a fraction of retracing every operation per leaf. On
    concrete arrays the plain map runs (there a fresh ``jit`` would compile on every
    call); so does an eager ``vmap`` or ``grad``, for the same reason, when called
    outside ``jit``: jit the step, as a training loop does.
    """
    return jax.tree.map(traced_once(fn, jax.tree.leaves(tree)), tree, *rest)


def traced_once(fn: Callable[..., Any], leaves: Sequence[Any]) -> Callable[..., Any]:
    """``fn`` wrapped in ``jax.jit`` when it will be called on ``leaves`` while a program is
    being traced and at least :data:`_REPEATS` of them share a shape and dtype (the rule
    of :func:`map_leaves`, also used for per-matrix calls); else ``fn`` itself."""
    if len(leaves) >= _REPEATS and any(isinstance(x, Tracer) for x in leaves):
        counts = collections.Counter((jnp.shape(x), jnp.result_type(x)) for x in leaves)
        if max(counts.values()) >= _REPEATS:  # else the per-call overhead outweighs it
            return jax.jit(fn)
    return fn


_REPEATS = 4
"""Leaves of one shape and dtype from which tracing the arithmetic once pays off."""


def zeros(like: Any, dtype: Any) -> jax.Array:
    """Zeros shaped like ``like`` in ``dtype``, laid out (sharded) like ``like``.

    The zeros are selected from ``like`` by an all-false mask: a data dependence
    that XLA's sharding propagation follows under ``jit``, so optimizer state
    lives where its parameter lives even when ``init`` is jitted (plain
    ``jnp.zeros`` would land on one device). NaN or inf entries in ``like`` do
    not leak. Shape-only leaves (``ShapeDtypeStruct``) get ``jnp.zeros``.
    """
    dtype = jax.dtypes.canonicalize_dtype(dtype)  # float64 → float32 unless x64 is on
    if not isinstance(like, jax.Array):
        return jnp.zeros(jnp.shape(like), dtype)
    z = jnp.where(jnp.zeros_like(like, dtype=bool), like, 0)
    if jnp.issubdtype(z.dtype, jnp.complexfloating) and not jnp.issubdtype(
        dtype, jnp.complexfloating
    ):
        z = jnp.real(z)
    return z.astype(dtype)


def leaf_dtype(x: Any) -> Any:
    """The dtype JAX gives a leaf: arrays' and ``ShapeDtypeStruct``'s own, canonicalized
    (NumPy float64 is float32 unless x64 is on); Python numbers' default dtype."""
    dtype = x.dtype if hasattr(x, "dtype") else jnp.asarray(x).dtype
    return jax.dtypes.canonicalize_dtype(dtype)


def zeros_like_tree(tree: Any, dtype: Any = None) -> Any:
    """Zeros with each leaf's shape and sharding, in ``dtype`` or the leaf's own dtype."""
    return jax.tree.map(lambda x: zeros(x, dtype or leaf_dtype(x)), tree)


def copy_like_tree(tree: Any) -> Any:
    """A new copy of each leaf, in its own dtype and laid out (sharded) like it: the
    zeros of :func:`zeros_like_tree` plus the leaf (state that starts as the parameters)."""
    return jax.tree.map(
        lambda x, z: z + jnp.asarray(x).astype(z.dtype), tree, zeros_like_tree(tree)
    )


def tree_map_n(
    fn: Callable[..., tuple[Any, ...]], n: int, tree: Any, *rest: Any
) -> tuple[Any, ...]:
    """Maps ``fn`` returning an ``n``-tuple per leaf; returns ``n`` trees shaped like ``tree``."""
    leaves, treedef = jax.tree.flatten(tree)
    others = [treedef.flatten_up_to(r) for r in rest]
    outs = map_leaves(fn, list(leaves), *[list(o) for o in others])
    return tuple(jax.tree.unflatten(treedef, [o[i] for o in outs]) for i in range(n))


def tree_sum(fn: Callable[..., jax.Array], *trees: Any, dtype: Any = None) -> jax.Array:
    """Σ over every element of every leaf of ``fn(leaves...)``, in at least float32.

    ``fn`` sees the trees' leaves side by side, each cast to its compute dtype; the
    per-leaf sums are added in tree order. With ``dtype`` the total starts at a zero of
    ``dtype`` and each leaf's sum is cast to ``dtype`` before it is added; without, the
    leaf sums are added as they are (by promotion), and an empty tree gives a zero of
    the default float dtype.

    A sum over all elements is the same (up to the order of summation) whether the
    leaves are arrays or packed buffers (buffers hold the leaves back to back, nothing
    else), so it is layout-independent.

    Example:
        >>> import jax.numpy as jnp
        >>> tree_sum(jnp.abs, {"a": jnp.array([-1.0, 2.0]), "b": jnp.array(3.0)})
        Array(6., dtype=float32)
    """
    leaves = [jax.tree.leaves(t) for t in trees]
    sums = [jnp.sum(fn(*map(to_compute, xs))) for xs in zip(*leaves, strict=True)]
    if dtype is None:
        if not sums:
            return jnp.zeros([], jnp.result_type(float))
        return jnp.asarray(sum(sums))  # Python's sum: 0 + s₁ + s₂ + …, by promotion
    total = jnp.zeros([], dtype)
    for s in sums:
        total = total + s.astype(dtype)
    return total


def tree_vdot(a: Any, b: Any, dtype: Any) -> jax.Array:
    """⟨a, b⟩ = Σ over all leaves of Σ aᵢbᵢ, in at least float32, as a ``dtype`` scalar.

    A sum over every element of the tree: the same number (up to the order of
    summation) for a tree of arrays and for its packed buffers.
    """
    return tree_sum(jnp.multiply, a, b, dtype=dtype)


def real_dtype(tree: Any) -> Any:
    """The dtype of a tree's scalars (inner products, step sizes): the widest compute
    dtype of its leaves (float32, or float64 when a leaf is float64)."""
    dtypes = [compute_dtype(leaf_dtype(x)) for x in jax.tree.leaves(tree)]
    return max(dtypes, key=lambda d: d.itemsize, default=jnp.dtype(jnp.float32))


def check_real(
    owner: str,
    tree: Any,
    why: str = "an inner product of complex gradients has no single convention",
) -> None:
    """Raises ``TypeError`` naming the first complex leaf of ``tree``, and ``why`` the block
    does not define complex numbers."""
    for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jnp.issubdtype(leaf_dtype(x), jnp.complexfloating):
            raise TypeError(
                f"{owner}: real parameters only ({why}), got {leaf_dtype(x)} at "
                f"{jax.tree_util.keystr(path)}."
            )


def global_norm(tree: Any) -> jax.Array:
    """The Euclidean norm of all leaves together: √(Σ over leaves of Σ|x|²).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> gdtx.global_norm({"a": jnp.array([3.0]), "b": jnp.array([4.0])})
        Array(5., dtype=float32)
    """
    return jnp.sqrt(tree_sum(abs_sq_leaf, tree))


def elementwise(fn: Callable[..., jax.Array], *trees: Any) -> Any:
    """Applies ``fn`` leaf by leaf in compute precision; results take the first tree's dtypes.

    Each input leaf is cast to at least float32 (complex64 for complex) before
    ``fn`` sees it, so low-precision parameters keep accurate arithmetic.
    """

    def leaf(*xs: jax.Array) -> jax.Array:
        return fn(*[to_compute(x) for x in xs]).astype(jnp.asarray(xs[0]).dtype)

    return map_leaves(leaf, *trees)


def to_compute(x: Any) -> jax.Array:
    """``x`` as a JAX array in its compute dtype: at least float32 (complex64 for complex)."""
    x = jnp.asarray(x)
    return x.astype(compute_dtype(x.dtype))


def abs_sq_leaf(g: Any) -> jax.Array:
    """|g|² of one array, elementwise, real, in at least float32."""
    g = to_compute(g)
    if jnp.issubdtype(g.dtype, jnp.complexfloating):
        return jnp.real(g) ** 2 + jnp.imag(g) ** 2
    return g * g


def abs_sq(tree: Any) -> Any:
    """|g|² leaf by leaf, real, in at least float32 (the second-moment input)."""
    return map_leaves(abs_sq_leaf, tree)


def v_zeros_like_tree(tree: Any, dtype: Any = None, initial: Any = 0) -> Any:
    """A second moment's start: ``initial`` (by default 0) in ``dtype``, by default real
    and at least float32, laid out (sharded) like each leaf.

    Half-precision second moments go wrong silently: in float16, (1 − β₂)g² underflows
    for |g| < 1e-2; in bfloat16, β₂v rounds back to v for β₂ = 0.999, so v stops
    decaying. So the default keeps v in float32 for 16-bit parameters.

    A nonzero ``initial`` is added to the zeros rather than written with
    ``jnp.full_like``: a constant would lose the parameters' sharding under ``jit``.
    """

    def leaf(x: Any) -> jax.Array:
        z = zeros(x, dtype if dtype is not None else jnp.finfo(compute_dtype(leaf_dtype(x))).dtype)
        if isinstance(initial, int | float) and initial == 0:
            return z
        return z + hyper(initial, z.dtype)

    return jax.tree.map(leaf, tree)


def safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    """num / den, and 0 where den = 0: no NaN or inf from a zero denominator.

    A zero denominator only arises where every gradient so far was zero (and ε = 0),
    where the step is 0 in the limit. A NaN denominator stays NaN: a NaN gradient
    shows in the update instead of freezing its parameter.
    """
    # lax.select rather than jnp.where: no broadcasting or casting to trace, which keeps
    # the per-leaf program small (compile time grows with it on trees of many leaves).
    zero = den == 0
    quotient = num / jax.lax.select(zero, jnp.ones_like(den), den).astype(num.dtype)
    zero = jnp.broadcast_to(zero, quotient.shape)
    return jax.lax.select(zero, jnp.zeros_like(quotient), quotient)


def tree_select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``on_true`` if ``pred`` else ``on_false``, leaf by leaf (typed PRNG keys included)."""

    def leaf(a: Any, b: Any) -> Any:
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            data = jnp.where(pred, jax.random.key_data(a), jax.random.key_data(b))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
        return jnp.where(pred, a, b)

    return jax.tree.map(leaf, on_true, on_false)


def only_match(tree: Any, is_match: Callable[[Any], bool], message: str) -> Any:
    """The one subtree of ``tree`` for which ``is_match`` holds (an optimizer's state of one
    kind inside a chain's state); ``ValueError(message.format(n))`` where n ≠ 1 match."""
    found = [s for s in jax.tree.leaves(tree, is_leaf=is_match) if is_match(s)]
    if len(found) != 1:
        raise ValueError(message.format(len(found)))
    return found[0]
