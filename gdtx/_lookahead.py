r"""Lookahead (Zhang et al., 2019, "Lookahead Optimizer: k steps forward, 1 step back",
arXiv:1907.08610): a fast optimizer's k steps, then the slow weights move part of the way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, OptState, Params, State, Transform, Updates, static
from ._combine import as_transform
from ._tree import copy_like_tree, elementwise, only_match, tree_select
from ._validate import check_against_spec, check_params, check_positive_int, check_range


class LookaheadParams(NamedTuple):
    """Fast and slow parameters together, as Optax's ``LookaheadParams``.

    Take gradients at ``fast``; evaluate the model at ``slow``. Optax's own
    ``optax.LookaheadParams`` works as well.

    Attributes:
        fast: the fast weights φ.
        slow: the slow weights θ.
    """

    fast: Params
    slow: Params

    @classmethod
    def init_synced(cls, params: Params) -> LookaheadParams:
        """Fast and slow weights both equal to ``params``."""
        return cls(fast=params, slow=params)


def _is_pair(params: Any) -> bool:
    """Whether ``params`` holds fast and slow weights (gdtx's or Optax's LookaheadParams)."""
    return isinstance(params, tuple) and getattr(params, "_fields", None) == ("fast", "slow")


class LookaheadState(NamedTuple):
    """State of :class:`Lookahead`.

    Attributes:
        inner: the fast optimizer's state.
        slow: the slow weights θ (with plain parameters), or ``None`` when the parameters
            are :class:`LookaheadParams` and carry them.
    """

    inner: Any
    slow: Any


class Lookahead(Transform):
    r"""Lookahead around a fast optimizer (Zhang et al., 2019, Algorithm 1).

    The parameters are the fast weights φ; u is the fast optimizer's update. With
    k = ``sync_period`` and α = ``slow_step_size``, every step

    $$ \varphi \leftarrow \varphi + u, $$

    and on every k-th step (t ≡ 0 mod k) the slow weights θ catch up and φ restarts there:

    $$ \theta \leftarrow \theta + \alpha(\varphi - \theta), \qquad \varphi \leftarrow \theta $$

    θ starts at φ₀. With plain parameters θ lives in the state
    (:func:`lookahead_slow_params` reads it); with :class:`LookaheadParams` (Optax's
    form: gradients at ``params.fast``) the parameters carry θ and the updates are a
    ``LookaheadParams`` too, as in ``optax.lookahead``. With ``reset_state`` the fast
    optimizer's state restarts from ``init`` after each synchronization, its step count
    included.

    Attributes:
        inner: the fast optimizer.
        sync_period: k ≥ 1.
        slow_step_size: α in [0, 1].
        reset_state: restart the fast optimizer after each synchronization (static).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.lookahead(gdtx.sgd(0.5), sync_period=2, slow_step_size=0.5)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> for _ in range(2):  # φ: 1 → 0.5 → 0.25, then θ = φ = 1 + 0.5·(0.25 − 1)
        ...     updates, state = opt.update(params, state, params)
        ...     params = gdtx.apply_updates(params, updates)
        >>> params
        Array([0.625], dtype=float32)
    """

    inner: Transform
    sync_period: Any
    slow_step_size: Any
    reset_state: bool = static(default=False)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "inner", as_transform(self.inner))
        check_positive_int("lookahead", "sync_period", self.sync_period)
        check_range("lookahead", "slow_step_size", self.slow_step_size, 0.0, 1.0)

    # -- Optax's form: LookaheadParams in, LookaheadParams out ---------------------------
    def init(self, params: Params) -> OptState:
        if not _is_pair(params):
            return super().init(params)
        state = super().init(params.fast)
        return state._replace(inner=LookaheadState(inner=state.inner.inner, slow=None))

    def update(
        self, updates: Updates, state: OptState, params: Params | None = None, **extra_args: Any
    ) -> tuple[Updates, OptState]:
        if not _is_pair(params):
            return super().update(updates, state, params, **extra_args)
        assert params is not None
        if not isinstance(state, OptState) or not isinstance(state.inner, LookaheadState):
            raise TypeError(
                "lookahead.update: `state` must be the OptState returned by init() or a "
                f"previous update(), got {type(state).__name__}."
            )
        if state.spec is not None:
            check_against_spec("lookahead.update", "params.slow", params.slow, state.spec)
        # The step runs on the fast weights with the given slow weights as its state.
        with_slow = state._replace(inner=state.inner._replace(slow=params.slow))
        fast_u, new = super().update(updates, with_slow, params.fast, **extra_args)

        def slow_update(new: jax.Array, old: jax.Array) -> jax.Array:
            return new - old.astype(new.dtype)  # θ_new − θ

        slow_u = elementwise(slow_update, new.inner.slow, params.slow)
        state = new._replace(inner=new.inner._replace(slow=None))
        return type(params)(fast=fast_u, slow=slow_u), state

    # -- the block -----------------------------------------------------------------------
    def init_state(self, params: Params) -> LookaheadState:
        slow = copy_like_tree(params)
        return LookaheadState(inner=self.inner.init_state(params), slow=slow)

    def _inner_count(self, count: jax.Array) -> jax.Array:
        return count % jnp.asarray(self.sync_period, count.dtype) if self.reset_state else count

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        yield self.inner, state.inner, self._inner_count(count)

    def step(
        self, updates: Updates, state: LookaheadState, params: Params | None, ctx: Context
    ) -> tuple[Updates, LookaheadState]:
        params = check_params("lookahead", params)
        slow = state.slow
        u, inner = self.inner.step(
            updates, state.inner, params, ctx.with_count(self._inner_count(ctx.count))
        )
        k = jnp.asarray(self.sync_period, ctx.count.dtype)
        sync = ctx.count % k == k - 1  # the k-th fast step since the last synchronization
        a = jnp.asarray(self.slow_step_size, jnp.result_type(float))

        def diff(phi: jax.Array, u: jax.Array, theta: jax.Array) -> jax.Array:
            return phi + u.astype(phi.dtype) - theta.astype(phi.dtype)  # φ + u − θ

        d = elementwise(diff, params, u, slow)

        def fast(u: jax.Array, d: jax.Array) -> jax.Array:  # u, or θ_new − φ at a sync
            return jnp.where(sync, u - (1 - a.astype(d.dtype)) * d, u)

        def slow_step(d: jax.Array) -> jax.Array:  # α(φ + u − θ) at a sync, else 0
            return jnp.where(sync, a.astype(d.dtype) * d, jnp.zeros_like(d))

        fast_u = elementwise(fast, u, d)
        slow_u = elementwise(slow_step, d)
        if self.reset_state:
            inner = tree_select(sync, self.inner.init_state(params), inner)
        new_slow = elementwise(lambda s, v: s + v.astype(s.dtype), slow, slow_u)  # θ ← θ + α·d
        return fast_u, LookaheadState(inner=inner, slow=new_slow)


def lookahead(
    fast_optimizer: Any,
    sync_period: int,
    slow_step_size: Any,
    reset_state: bool = False,
) -> Lookahead:
    """Lookahead (Zhang et al., 2019) around ``fast_optimizer``; see :class:`Lookahead`.

    Arguments as Optax's ``lookahead`` (the paper's k = 5 and α = 0.5 are typical). It
    takes plain parameters (the slow weights kept in the state) or Optax's
    :class:`LookaheadParams`.

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> opt = gdtx.lookahead(gdtx.sgd(1e-2), sync_period=5, slow_step_size=0.5)
        >>> params = gdtx.LookaheadParams.init_synced(jnp.ones(2))
        >>> state = opt.init(params)
        >>> grads = jax.grad(lambda p: jnp.sum(p**2))(params.fast)
        >>> updates, state = opt.update(grads, state, params)
        >>> gdtx.apply_updates(params, updates).slow  # moves every 5th step
        Array([1., 1.], dtype=float32)
    """
    return Lookahead(as_transform(fast_optimizer), sync_period, slow_step_size, reset_state)


def lookahead_slow_params(state: Any) -> Params:
    """The slow weights θ, where a model trained with :func:`lookahead` on plain parameters
    is evaluated.

    Args:
        state: the state of an optimizer holding one :class:`Lookahead` that was given
            plain parameters (with :class:`LookaheadParams`, read ``params.slow``).

    Returns:
        θ, in the parameters' structure and dtypes.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.lookahead(gdtx.sgd(0.5), sync_period=2, slow_step_size=0.5)
        >>> params = jnp.array([1.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(params, state, params)
        >>> gdtx.apply_updates(params, updates), gdtx.lookahead_slow_params(state)
        (Array([0.5], dtype=float32), Array([1.], dtype=float32))
    """
    lookahead = only_match(
        state,
        lambda s: isinstance(s, LookaheadState) and s.slow is not None,
        "lookahead_slow_params: `state` must hold exactly one LookaheadState with slow "
        "weights (a lookahead given plain parameters), found {}.",
    )
    return lookahead.slow
