"""Validation: hyperparameter ranges, and parameter trees against an optimizer's state.

Hyperparameters are checked when they are concrete Python or NumPy numbers or
concrete JAX arrays; traced values (inside ``jit`` or ``vmap``) pass unchecked.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _concrete_values(value: Any) -> np.ndarray | None:
    """The value as a NumPy array if it is concrete and numeric, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return np.asarray(float(value))
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value) if np.issubdtype(np.asarray(value).dtype, np.number) else None
    if isinstance(value, jax.Array):
        try:
            return np.asarray(value)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
            return None  # a traced value: not checked (documented)
    return None


def check_range(
    owner: str,
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raises ``ValueError`` if a concrete ``value`` lies outside [low, high].

    Traced values (inside jit or vmap) are not checked.
    """
    _check_numeric(owner, name, value)
    arr = _concrete_values(value)
    if arr is None:
        return
    lo_ok = arr > low if low_open else arr >= low
    hi_ok = arr < high if high_open else arr <= high
    if not bool(np.all(lo_ok & hi_ok & np.isfinite(arr))):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{owner}: `{name}` must lie in {lo}{low}, {high}{hi}, got {value!r}.")


def _check_numeric(owner: str, name: str, value: Any) -> None:
    """Raises ``TypeError`` for a hyperparameter given as text (``adam("1e-3")``).

    Anything else passes here: JAX rebuilds transformations with placeholder leaves
    (``None``, tracers, shape structs) when it flattens and unflattens them.
    """
    if isinstance(value, str | bytes):
        raise TypeError(
            f"{owner}: `{name}` must be a number or a numeric array, got {value!r} "
            f"({type(value).__name__})."
        )
    dtype = getattr(value, "dtype", None)
    if isinstance(value, np.ndarray | np.generic | jax.Array) and not np.issubdtype(
        np.dtype(dtype), np.number
    ):
        raise TypeError(f"{owner}: `{name}` must be numeric, got dtype {dtype}.")


def check_positive_int(owner: str, name: str, value: Any) -> None:
    """Raises ``ValueError`` if a concrete ``value`` is not a positive integer."""
    _check_numeric(owner, name, value)
    arr = _concrete_values(value)
    if arr is None:
        return
    if not bool(np.all((arr >= 1) & (arr == np.round(arr)))):
        raise ValueError(f"{owner}: `{name}` must be a positive integer, got {value!r}.")


def check_params(owner: str, params: Any) -> Any:
    """Returns ``params``, or raises if a block that reads them was given none."""
    if params is None:
        raise ValueError(
            f"{owner} reads the parameters: call update(updates, state, params) with params."
        )
    return params


# ---------------------------------------------------------------------------------------
# Parameter trees


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class ParamsSpec:
    """What a state was initialised for: the parameters' tree structure and leaf shapes.

    Held as static data in :class:`~gdtx.OptState`, so ``update`` can name the key
    paths where ``updates`` or ``params`` disagree with the state.
    """

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]

    def __eq__(self, other: object) -> bool:
        # A spec with no leaves (the state of a tree without arrays, such as the
        # placeholder Optax's tree_map_params initialises with) matches every spec, so
        # that a state made for the placeholder lines up with a real one.
        if not isinstance(other, ParamsSpec):
            return NotImplemented
        if not self.shapes or not other.shapes:
            return True
        return (self.treedef, self.shapes) == (other.treedef, other.shapes)

    def __hash__(self) -> int:
        return hash(len(self.shapes) > 0 and (self.treedef, self.shapes))

    def paths(self) -> list[str]:
        """The key path of every leaf, as ``jax.tree_util.keystr`` spells it."""
        dummy = jax.tree.unflatten(self.treedef, list(range(self.treedef.num_leaves)))
        return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(dummy)[0]]


def _leaf_problem(leaf: Any) -> str | None:
    """Why ``leaf`` cannot be a parameter, or ``None`` if it can."""
    if isinstance(leaf, bool) or not (
        isinstance(leaf, numbers.Number) or (hasattr(leaf, "shape") and hasattr(leaf, "dtype"))
    ):
        return f"is a {type(leaf).__name__}"
    dtype = jnp.result_type(leaf) if isinstance(leaf, numbers.Number) else jnp.dtype(leaf.dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        return f"has dtype {dtype}"
    return None


def params_spec(owner: str, params: Any) -> ParamsSpec:
    """The spec of ``params``, after checking every leaf is a float or complex array.

    ``None`` leaves (as Equinox's ``filter`` and Flax produce) are empty subtrees:
    they get no state and stay ``None``.
    """
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    bad = [
        f"  params{jax.tree_util.keystr(path)} {problem}"
        for path, leaf in with_paths
        if (problem := _leaf_problem(leaf)) is not None
    ]
    if bad:
        raise TypeError(
            f"{owner}: every parameter leaf must be a floating-point or complex array "
            "(use None for leaves to leave out, e.g. eqx.filter(model, eqx.is_array)):\n"
            + "\n".join(bad)
        )
    return ParamsSpec(treedef, tuple(tuple(np.shape(leaf)) for _, leaf in with_paths))


def _key_paths(tree_def: Any) -> list[str]:
    """The key path of every leaf of a tree structure, without ``.value`` attributes.

    Flax NNX hands ``nnx.Variable`` wrappers (whose array is ``.value``) to ``init``
    and bare arrays to ``update``; dropping ``.value`` makes their paths compare equal.
    """
    dummy = jax.tree.unflatten(tree_def, list(range(tree_def.num_leaves)))
    out = []
    for path, _ in jax.tree_util.tree_flatten_with_path(dummy)[0]:
        kept = tuple(
            k for k in path if not (isinstance(k, jax.tree_util.GetAttrKey) and k.name == "value")
        )
        out.append(jax.tree_util.keystr(kept))
    return out


def check_against_spec(owner: str, name: str, tree: Any, spec: ParamsSpec) -> None:
    """Raises ``ValueError`` naming the key paths where ``tree`` and ``spec`` differ.

    Leaves are matched by key path and shape. Paths are compared without ``.value``
    attributes, so Flax NNX's ``nnx.Variable`` wrappers (handed to ``init``) and bare
    arrays (handed to ``update``) match.
    """
    leaves, treedef = jax.tree.flatten(tree)
    shapes = tuple(tuple(np.shape(leaf)) for leaf in leaves)
    if treedef == spec.treedef and shapes == spec.shapes:
        return
    got, want = _key_paths(treedef), _key_paths(spec.treedef)
    if got == want and shapes == spec.shapes:
        return
    if got == want:
        lines = [
            f"  {g}: {name} has shape {gs}, the state {ws}"
            for g, gs, ws in zip(got, shapes, spec.shapes, strict=True)
            if gs != ws
        ]
    else:
        missing = [p for p in want if p not in set(got)]
        extra = [p for p in got if p not in set(want)]
        lines = []
        if missing:
            lines.append(f"  in the state but not in {name}: {', '.join(missing)}")
        if extra:
            lines.append(f"  in {name} but not in the state: {', '.join(extra)}")
        if not lines:  # the same paths in another order, or another container type
            lines.append(f"  {name}: {treedef}\n  state: {spec.treedef}")
    raise ValueError(
        f"{owner}: `{name}` does not match the parameters the state was initialised for "
        f"({len(got)} leaves in {name}, {len(want)} in the state):\n" + "\n".join(lines)
    )
