"""Quasi-Newton methods: L-BFGS with a line search."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._backtracking import ScaleByBacktrackingLinesearch
from ._base import Transform
from ._combine import Chain, Identity, as_transform
from ._lbfgs import ScaleByLbfgs
from ._linesearch import ScaleByZoomLinesearch
from ._optim import ScalarOrSchedule, lr_block, sign
from ._scale import Scale
from ._validate import check_positive_int

DEFAULT_LINESEARCH = ScaleByZoomLinesearch(max_linesearch_steps=20, initial_guess_strategy="one")
"""``lbfgs``'s line search: Optax's default (20 steps, a first guess η = 1 every step)."""


def lbfgs(
    learning_rate: ScalarOrSchedule | None = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Any = DEFAULT_LINESEARCH,
    *,
    maximize: bool = False,
) -> Chain:
    """L-BFGS (Liu & Nocedal, 1989) with a strong Wolfe line search (Nocedal & Wright,
    *Numerical Optimization*, 2nd ed., Algorithms 7.4, 7.5, 3.5 and 3.6).

    θ ← θ − η·H·g: H·g by the two-loop recursion over the last m pairs of parameter
    and gradient differences (:class:`ScaleByLbfgs`), η found by the line search along
    −H·g (:class:`ScaleByZoomLinesearch`). The chain: ``chain(scale_by_lbfgs(m),
    scale(-1), scale_by_zoom_linesearch(20, initial_guess_strategy="one"))``, with
    ``scale_by_learning_rate(α)`` in place of ``scale(-1)`` when a learning rate is given.

    The interface is Optax's ``lbfgs`` (same arguments and defaults): the line search
    evaluates the objective, so each step is
    ``update(grads, state, params, value=f(θ), grad=grads, value_fn=f, **data)``, where
    ``value_fn(params, **data)`` is the objective and further keywords (a batch) go to
    it; :func:`value_and_grad_from_state` reuses the line search's last evaluation as
    the next step's value and gradient. ``linesearch=None`` leaves the line search out
    (then ``update`` needs no objective and η = 1, or the learning rate).

    ``torch.optim.LBFGS`` runs a whole loop per ``step(closure)``: up to ``max_iter``
    (20) iterations, each with its own line search, stopping on ``tolerance_grad`` and
    ``tolerance_change``. Here one ``update`` is one iteration, and the loop, with its
    stopping rule, is the caller's. Its other differences: torch's first step is
    min(1, 1/‖g‖₁)·lr along −g (here min(1, 1/‖g‖₂) along −g, η then searched from 1),
    it skips pairs with ⟨y, s⟩ ≤ 1e-10, and its strong Wolfe search (``line_search_fn=
    "strong_wolfe"``, c₁ = 1e-4, c₂ = 0.9, at most 25 evaluations) brackets and
    interpolates differently, so the two take different steps on the same problem. To
    run torch one iteration per ``step`` as here, pass ``max_iter=1`` with ``max_eval=26``:
    with its default ``max_eval`` (5/4 of ``max_iter``, so 1) its line search gets no
    evaluations and the parameters never move.

    Args:
        learning_rate: α ≥ 0 (a number or a schedule) scaling the direction before the
            line search, or ``None`` (η from the line search alone; Optax's default).
        memory_size: m ≥ 1, the pairs kept.
        scale_init_precond: the initial inverse Hessian is γI with γ = ⟨s, y⟩/⟨y, y⟩
            (the first step: min(1, 1/‖g‖)); else I.
        linesearch: a line-search block: :class:`ScaleByZoomLinesearch` (the default: 20
            steps, first guess 1), :class:`ScaleByBacktrackingLinesearch`, or ``None``.
        maximize: ascend f instead: g ← −g first, and the line search maximises f.

    Returns:
        The optimizer.

    Example:
        >>> import jax, jax.numpy as jnp, gdtx
        >>> from gdtx import problems
        >>> f, opt = problems.rosenbrock, gdtx.lbfgs()
        >>> value_and_grad = gdtx.value_and_grad_from_state(f)
        >>> @jax.jit
        ... def step(x, state):
        ...     value, grad = value_and_grad(x, state=state)
        ...     u, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        ...     return gdtx.apply_updates(x, u), state
        >>> x = f.x0()
        >>> state = opt.init(x)
        >>> for _ in range(40):
        ...     x, state = step(x, state)
        >>> x.round(4)
        Array([1., 1.], dtype=float32)
    """
    check_positive_int("lbfgs", "memory_size", memory_size)
    scaling: Transform = Scale(-1.0) if learning_rate is None else lr_block("lbfgs", learning_rate)
    if linesearch is None:
        search: Transform = Identity()
    else:
        search = as_transform(linesearch)
        if maximize:
            if not isinstance(search, ScaleByZoomLinesearch | ScaleByBacktrackingLinesearch):
                raise ValueError(
                    "lbfgs: `maximize=True` needs a gdtx line search (it maximises the "
                    f"objective), got {type(linesearch).__name__}."
                )
            search = dataclasses.replace(search, maximize=True)
    core = ScaleByLbfgs(memory_size, scale_init_precond)
    return Chain((*sign(maximize), core, scaling, search), "lbfgs")
