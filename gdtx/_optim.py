"""What every optimizer shares: L2 decay, the learning rate, ``maximize``.

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
