r"""Sharpness-Aware Minimization (Foret et al., 2021, "Sharpness-Aware Minimization for
Efficiently Improving Generalization", arXiv:2010.01412), as Optax's ``contrib.sam``: an
adversarial optimizer climbs, the outer optimizer steps from where it started with the
gradient found there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from ._base import Context, EmptyState, Params, State, Transform, Updates, apply_updates, static
from ._combine import as_transform
from ._tree import copy_like_tree, elementwise, global_norm, tree_select
from ._validate import check_params, check_positive_int


class Normalize(Transform):
    r"""Divides the updates by their global norm: out = g/‖g‖ (SAM's ascent direction).

    $$ \text{out} = \frac{g}{\lVert g \rVert}, \qquad
       \lVert g \rVert = \sqrt{\textstyle\sum_{\text{leaves}} \sum |g|^2} $$

    As Optax's ``contrib.normalize``: a zero gradient gives 0/0 (NaN), as there.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.normalize()
        >>> g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
        >>> tx.update(g, tx.init(g))[0]["b"]
        Array([0.8], dtype=float32)
    """

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        norm = global_norm(updates)  # ‖g‖ over all leaves
        return elementwise(lambda g: g / norm.astype(g.dtype), updates), state


normalize = Normalize


class SAMState(NamedTuple):
    """State of :class:`SAM`.

    Attributes:
        opt_state: the outer optimizer's state.
        adv_state: the adversarial optimizer's state.
        cache: the true parameters w of the current period (``None`` in opaque mode).
    """

    opt_state: Any
    adv_state: Any
    cache: Any


class SAM(Transform):
    r"""Sharpness-Aware Minimization around an outer and an adversarial optimizer (Foret et
    al., 2021, Algorithm 1; Optax's ``contrib.sam``).

    With k = ``sync_period``, a period starts at the true parameters w. Its first k − 1
    steps climb with the adversarial optimizer A (for the paper's SAM, A =
    ``chain(normalize(), sgd(ρ))``, whose update −ρg/‖g‖ is negated into the ascent
    ε = ρg/‖g‖), and its last step applies the outer optimizer O, from w, to the gradient
    taken at the perturbed point:

    $$ \theta \leftarrow \theta - A(g) \;\;(\text{steps } 1 \ldots k-1), \qquad
       \theta \leftarrow w + O(g;\, w) \;\;(\text{step } k). $$

    Transparent mode (the default) does one of these per ``update`` call: the caller's
    parameters visit the perturbed points, and gradients are taken there. Opaque mode does
    a whole period per call: ``update(grads, state, params, grad_fn=f)`` takes the
    gradient at θ and calls ``f(perturbed_params, i)`` for the k − 1 others, so the
    parameters only see outer steps (needed when the model has side effects such as
    batch-norm statistics).

    The outer optimizer sees the period count, ⌊t/k⌋ steps, and the adversarial one its
    own steps (restarting each period with ``reset_state``, Optax's default). With
    ``sync_period=1`` every step is an outer step (Optax's transparent mode then returns
    to the previous step's parameters).

    Attributes:
        optimizer: the outer optimizer O.
        adv_optimizer: the adversarial optimizer A.
        sync_period: k ≥ 1 (static).
        reset_state: restart A each period (static).
        opaque_mode: a whole period per call, gradients from ``grad_fn`` (static).
        batch_axis_name: opaque mode: ``jax.lax.pmean`` the adversarial gradients over
            this axis (static).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> adv = gdtx.chain(gdtx.normalize(), gdtx.sgd(0.1))
        >>> opt = gdtx.sam(gdtx.sgd(0.5), adv, sync_period=2)
        >>> w = jnp.array([3.0, 4.0])
        >>> state = opt.init(w)
        >>> u, state = opt.update(w, state, w)  # climb: w + ρg/‖g‖
        >>> theta = gdtx.apply_updates(w, u)
        >>> theta
        Array([3.06, 4.08], dtype=float32)
        >>> u, state = opt.update(theta, state, theta)  # descend from w with g(θ)
        >>> gdtx.apply_updates(theta, u)
        Array([1.47, 1.96], dtype=float32)
    """

    optimizer: Transform
    adv_optimizer: Transform
    sync_period: int = static(default=2)
    reset_state: bool = static(default=True)
    opaque_mode: bool = static(default=False)
    batch_axis_name: Any = static(default=None)
    extra_args: ClassVar[tuple[str, ...]] = ("grad_fn",)
    reads_params: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", as_transform(self.optimizer))
        object.__setattr__(self, "adv_optimizer", as_transform(self.adv_optimizer))
        check_positive_int("sam", "sync_period", self.sync_period)

    def init_state(self, params: Params) -> SAMState:
        cache = None
        if not self.opaque_mode:
            cache = copy_like_tree(params)
        return SAMState(
            opt_state=self.optimizer.init_state(params),
            adv_state=self.adv_optimizer.init_state(params),
            cache=cache,
        )

    def _counts(self, count: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(outer steps, adversarial steps) taken before this call's first one."""
        k = self.sync_period
        if self.opaque_mode:
            return count, (jnp.zeros_like(count) if self.reset_state else count * (k - 1))
        period, phase = count // k, count % k
        return period, (phase if self.reset_state else period * (k - 1) + phase)

    def parts(self, state: State, count: jax.Array) -> Iterator[tuple[Transform, State, Any]]:
        outer, adv = self._counts(count)
        yield self.optimizer, state.opt_state, outer
        yield self.adv_optimizer, state.adv_state, adv

    def step(
        self, updates: Updates, state: SAMState, params: Params | None, ctx: Context
    ) -> tuple[Updates, SAMState]:
        params = check_params("sam", params)
        if self.opaque_mode:
            return self._opaque(updates, state, params, ctx)
        return self._transparent(updates, state, params, ctx)

    def _transparent(
        self, updates: Updates, state: SAMState, params: Params, ctx: Context
    ) -> tuple[Updates, SAMState]:
        k = self.sync_period
        outer_count, adv_count = self._counts(ctx.count)
        first, last = ctx.count % k == 0, ctx.count % k == k - 1
        cache = tree_select(first, params, state.cache)  # w, kept from the period's start

        def like(tree: Any) -> Any:  # both branches return the updates' dtypes
            return jax.tree.map(lambda x, g: x.astype(g.dtype), tree, updates)

        def outer_step(_: None) -> tuple[Any, Any, Any]:  # the period's last call: O's step
            opt_u, opt_state = self.optimizer.step(
                updates, state.opt_state, cache, ctx.with_count(outer_count)
            )
            # back to w, then O's step
            out = elementwise(lambda w, p, u: w - p + u.astype(w.dtype), cache, params, opt_u)
            adv_state = (
                self.adv_optimizer.init_state(params) if self.reset_state else state.adv_state
            )
            return like(out), opt_state, adv_state

        def ascent_step(_: None) -> tuple[Any, Any, Any]:  # A's update, negated: ascent
            adv_u, adv_state = self.adv_optimizer.step(
                updates, state.adv_state, params, ctx.with_count(adv_count)
            )
            return like(elementwise(lambda u: -u, adv_u)), state.opt_state, adv_state

        # one of the two optimizers runs per call (both, as a select, under vmap)
        out, opt_state, adv_state = jax.lax.cond(last, outer_step, ascent_step, None)
        return out, SAMState(opt_state=opt_state, adv_state=adv_state, cache=cache)

    def _opaque(
        self, updates: Updates, state: SAMState, params: Params, ctx: Context
    ) -> tuple[Updates, SAMState]:
        grad_fn = ctx.extra.get("grad_fn")
        if grad_fn is None:
            raise ValueError(
                "sam: opaque_mode=True needs update(..., grad_fn=f), with f(params, i) the "
                "gradient at the i-th perturbed point."
            )
        outer_count, adv_count = self._counts(ctx.count)
        g, adv_state, theta = updates, state.adv_state, params
        for i in range(self.sync_period - 1):
            adv_u, adv_state = self.adv_optimizer.step(
                g, adv_state, theta, ctx.with_count(adv_count + i)
            )
            theta = apply_updates(theta, jax.tree.map(lambda u: -u, adv_u))  # climb
            g = grad_fn(theta, i)
            if self.batch_axis_name is not None:
                g = jax.lax.pmean(g, axis_name=self.batch_axis_name)
        if self.reset_state:
            adv_state = self.adv_optimizer.init_state(params)
        out, opt_state = self.optimizer.step(
            g, state.opt_state, params, ctx.with_count(outer_count)
        )
        return out, SAMState(opt_state=opt_state, adv_state=adv_state, cache=None)


def sam(
    optimizer: Any,
    adv_optimizer: Any,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> SAM:
    """Sharpness-Aware Minimization (Foret et al., 2021); see :class:`SAM`. Arguments as
    Optax's ``contrib.sam``.

    The paper's SAM with radius ρ and learning rate α:
    ``sam(sgd(α), chain(normalize(), sgd(ρ)), sync_period=2)``.

    Example:
        >>> import gdtx
        >>> opt = gdtx.sam(gdtx.adam(1e-3), gdtx.chain(gdtx.normalize(), gdtx.sgd(0.05)))
    """
    return SAM(
        as_transform(optimizer),
        as_transform(adv_optimizer),
        sync_period,
        reset_state,
        opaque_mode,
        batch_axis_name,
    )
