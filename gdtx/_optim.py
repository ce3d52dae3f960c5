"""What every optimizer shares: L2 decay, the learning rate, ``maximize``, and
:func:`optimizer_chain`, which puts them around an optimizer's own blocks.

Names and argument names follow Optax where Optax has the same algorithm;
defaults follow the original papers. ``weight_decay`` (where offered besides
``adamw``) is L2 added to the gradient before everything else, as in
``torch.optim``; ``None`` leaves the block out. ``maximize=True`` flips the
gradient's sign first, as torch's ``maximize``. Each optimizer checks its own
hyperparameters, so an error names the optimizer and the argument the user wrote.
"""

from __future__ import annotations

from typing import Any

from ._base import Transform
from ._combine import Chain
from ._scale import AddDecayedWeights, Scale, ScaleByLearningRate
from ._validate import check_range

ScalarOrSchedule = Any
"""A number, or a schedule: a function of the step count."""


def l2(owner: str, weight_decay: Any) -> tuple[Transform, ...]:
    """PyTorch-style weight decay (λθ added to the gradient), absent for ``None``."""
    if weight_decay is None:
        return ()
    check_range(owner, "weight_decay", weight_decay, 0.0)
    return (AddDecayedWeights(weight_decay),)


def decoupled(owner: str, weight_decay: Any, mask: Any = None) -> AddDecayedWeights:
    """Decoupled weight decay (AdamW's λθ added to the update), λ ≥ 0 checked under the
    optimizer's name; ``mask`` selects the leaves that decay."""
    check_range(owner, "weight_decay", weight_decay, 0.0)
    return AddDecayedWeights(weight_decay, mask)


def sign(maximize: bool) -> tuple[Transform, ...]:
    """g ← −g first when maximizing (torch's ``maximize``), before any weight decay."""
    return (Scale(-1.0),) if maximize else ()


def lr_block(owner: str, learning_rate: Any) -> ScaleByLearningRate:
    """The learning-rate block, its constant checked under the optimizer's name."""
    if not callable(learning_rate):
        check_range(owner, "learning_rate", learning_rate, 0.0)
    return ScaleByLearningRate(learning_rate)


_NO_DECAY: Any = object()
"""``optimizer_chain``'s default ``decay``: no decoupled decay (``None`` is a value there)."""


def optimizer_chain(
    owner: str,
    learning_rate: Any,
    maximize: bool,
    *blocks: Transform,
    l2_decay: Any = None,
    decay: Any = _NO_DECAY,
    mask: Any = None,
) -> Chain:
    """The optimizer ``owner``: ``Chain((sign, *blocks, lr), owner)`` with its weight decay.

    g ← −g first when maximizing (:func:`sign`), then the blocks, then the learning rate
    (:func:`lr_block`). Weight decay λθ is either ``l2_decay``, added to g before the
    blocks (:func:`l2`, absent for ``None``), or ``decay``, decoupled and added after the
    first block on the leaves ``mask`` selects (:func:`decoupled`; AdamW's place: after
    the direction, before what rescales it). Hyperparameters are checked under ``owner``.
    """
    lr = lr_block(owner, learning_rate)
    if decay is not _NO_DECAY:
        first, *rest = blocks
        blocks = (first, decoupled(owner, decay, mask), *rest)
    return Chain((*sign(maximize), *l2(owner, l2_decay), *blocks, lr), owner)
