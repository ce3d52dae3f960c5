"""What a line search needs from ``update``'s keywords: the objective ``value_fn`` and the
data for it; and :func:`value_and_grad_from_state`, which reuses a search's last point."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._base import OptState
from ._tree import elementwise, only_match


def signed_objective(
    owner: str, extra: Any, params: Any, f: Any, sign: float
) -> tuple[Callable[[Any], jax.Array], Callable[[Any], tuple[jax.Array, Any]]]:
    """x ↦ sign·value_fn(x, **data) and x ↦ (sign·value_fn, sign·∇value_fn), values as ``f``
    scalars; ``value_fn`` checked to return a scalar."""
    value_fn, data = objective(extra, owner)
    shape = jnp.shape(jax.eval_shape(lambda x: value_fn(x, **data), params))
    if shape != ():
        raise ValueError(f"{owner}: `value_fn` must return a scalar, got shape {shape}.")

    def value(x: Any) -> jax.Array:
        return sign * jnp.asarray(value_fn(x, **data)).astype(f)

    def value_and_grad(x: Any) -> tuple[jax.Array, Any]:
        v, g = jax.value_and_grad(value_fn)(x, **data)
        return sign * jnp.asarray(v).astype(f), jax.tree.map(lambda d: sign * d, g)

    return value, value_and_grad


def trial_point(params: Any, eta: jax.Array, direction: Any) -> Any:
    """θ + η·u, the point a line search tries at step size η, in the parameters' dtypes."""
    return elementwise(lambda p, d: p + eta.astype(p.dtype) * d, params, direction)


def value_and_grad_at_start(
    extra: Any,
    params: Any,
    f: Any,
    sign: float,
    value_and_grad: Callable[[Any], tuple[jax.Array, Any]],
) -> tuple[jax.Array, Any]:
    """(sign·f(θ), sign·∇f(θ)) where a line search starts: the ``value`` and ``grad`` passed
    to ``update`` where both were, else ``value_and_grad(params)`` (from
    :func:`signed_objective`); the value as an ``f`` scalar."""
    if "value" in extra and "grad" in extra:
        value = sign * jnp.asarray(extra["value"]).astype(f)
        return value, jax.tree.map(lambda d: sign * jnp.asarray(d), extra["grad"])
    return value_and_grad(params)


def objective(extra: Any, owner: str) -> tuple[Callable[..., Any], dict[str, Any]]:
    """``value_fn`` and the keyword arguments meant for it, checked against its signature."""
    if "value_fn" not in extra:
        raise ValueError(
            f"{owner} needs the objective: call update(updates, state, params, value=f(params), "
            "grad=∇f(params), value_fn=f); `value_fn` is missing."
        )
    value_fn = extra["value_fn"]
    if not callable(value_fn):
        raise TypeError(
            f"{owner}: `value_fn` must be a function of the parameters, got "
            f"{type(value_fn).__name__}."
        )
    data = {k: v for k, v in extra.items() if k not in ("value", "grad", "value_fn")}
    try:
        parameters = inspect.signature(value_fn).parameters
    except (TypeError, ValueError):
        return value_fn, data
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(data) - set(parameters))
        if unknown:
            raise TypeError(
                f"{owner}: `value_fn` takes no keyword argument(s) {unknown}, which update() "
                "passes on to it besides value, grad and value_fn."
            )
    return value_fn, data


def value_and_grad_from_state(
    value_fn: Callable[..., Any],
) -> Callable[..., tuple[jax.Array, Any]]:
    """``jax.value_and_grad(value_fn)`` that reuses what the last line search computed.

    The returned function takes ``(params, *args, state=state, **kwargs)``. Where
    ``state`` (an optimizer's state) holds a line search whose last point has a finite
    value, that value and gradient are returned, without evaluating ``value_fn``: the
    line search ended at the new parameters. Otherwise (the first step) ``value_fn``
    is evaluated. As Optax's ``value_and_grad_from_state``, for a deterministic
    objective (the same batch every step).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> f = lambda x: jnp.sum(x**2)
        >>> opt, x = gdtx.lbfgs(), jnp.array([1.0, 2.0])
        >>> state = opt.init(x)
        >>> value_and_grad = gdtx.value_and_grad_from_state(f)
        >>> value, grad = value_and_grad(x, state=state)  # evaluates f: no search yet
        >>> u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        >>> x = gdtx.apply_updates(x, u)
        >>> value, grad = value_and_grad(x, state=state)  # the search's last evaluation
        >>> bool(value == state.inner[-1].value)
        True
    """

    def value_and_grad(params: Any, *args: Any, state: Any, **kwargs: Any) -> tuple[Any, Any]:
        last = only_match(
            state.inner if isinstance(state, OptState) else state,
            _is_search_state,
            "value_and_grad_from_state: expected the state of an optimizer with one line "
            "search (such as lbfgs), found {} line-search states.",
        )
        if last.grad is None:
            raise ValueError(
                "value_and_grad_from_state: the line search keeps no gradient; make it with "
                "store_grad=True."
            )

        def evaluate(p: Any, a: tuple[Any, ...], kw: dict[str, Any]) -> tuple[Any, Any]:
            value, grad = jax.value_and_grad(value_fn)(p, *a, **kw)
            return jnp.asarray(value).astype(last.value.dtype), jax.tree.map(
                lambda d, g: d.astype(g.dtype), grad, last.grad
            )

        return jax.lax.cond(
            jnp.isfinite(last.value),
            lambda *_: (last.value, last.grad),
            evaluate,
            params,
            args,
            kwargs,
        )

    return value_and_grad


def _is_search_state(x: Any) -> bool:
    """Whether ``x`` is a line search's state (zoom or backtracking)."""
    return isinstance(x, tuple) and {"learning_rate", "value", "grad", "info"} <= set(
        getattr(x, "_fields", ())
    )
