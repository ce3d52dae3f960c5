"""Sign-based descent: signSGD and Signum (Bernstein et al., 2018), whose steps keep only the
sign of each coordinate."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from ._base import Context, EmptyState, Params, Transform, Updates
from ._combine import Chain
from ._moments import Ema
from ._optim import ScalarOrSchedule, lr_block, sign
from ._tree import elementwise
from ._validate import check_range


class ScaleBySign(Transform):
    r"""The sign of each coordinate (Bernstein et al., 2018, "signSGD: Compressed
    Optimisation for Non-Convex Problems", arXiv:1802.04434).

    $$ \text{out} = \operatorname{sign}(g) $$

    sign(0) = 0, and a NaN stays NaN. For a complex entry, sign(g) = g/|g|. Placed after
    ``Ema(β)`` it gives Signum's sign(m).

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> tx = gdtx.scale_by_sign()
        >>> g = jnp.array([0.5, -2.0, 0.0])
        >>> tx.update(g, tx.init(g))[0]
        Array([ 1., -1.,  0.], dtype=float32)
    """

    def step(
        self, updates: Updates, state: EmptyState, params: Params | None, ctx: Context
    ) -> tuple[Updates, EmptyState]:
        return elementwise(jnp.sign, updates), state  # sign(g)


scale_by_sign = ScaleBySign


def sign_sgd(learning_rate: ScalarOrSchedule, *, maximize: bool = False) -> Chain:
    """signSGD (Bernstein et al., 2018, arXiv:1802.04434, Algorithm 1): θ ← θ − α·sign(g).

    The chain: ``chain(scale_by_sign(), scale_by_learning_rate(α))``. Every coordinate
    moves by exactly α (0 where its gradient is 0). Arguments as Optax's ``sign_sgd``.

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.sign_sgd(0.1)
        >>> params = jnp.array([1.0, 1.0])
        >>> opt.update(jnp.array([3.0, -0.2]), opt.init(params))[0]
        Array([-0.1,  0.1], dtype=float32)
    """
    lr = lr_block("sign_sgd", learning_rate)
    return Chain((*sign(maximize), ScaleBySign(), lr), "sign_sgd")


def signum(
    learning_rate: ScalarOrSchedule,
    beta: Any = 0.9,
    m_dtype: Any = None,
    *,
    maximize: bool = False,
) -> Chain:
    """Signum (Bernstein et al., 2018, arXiv:1802.04434, Algorithm 3): signSGD with momentum.

    m ← βm + (1 − β)g; θ ← θ − α·sign(m). The chain: ``chain(Ema(β), scale_by_sign(),
    scale_by_learning_rate(α))``; m is not bias-corrected (the correction, a positive
    factor, would not change its sign). β = 0.9 is the paper's and Optax's default
    (``accumulator_dtype`` there is ``m_dtype`` here).

    Args:
        learning_rate: α ≥ 0, a number or a schedule.
        beta: β in [0, 1).
        m_dtype: dtype of m (default: the parameter's).
        maximize: ascend instead of descend: g ← −g first (torch's ``maximize``).

    Returns:
        The optimizer.

    Example:
        >>> import jax.numpy as jnp, gdtx
        >>> opt = gdtx.signum(0.1)
        >>> params = jnp.array([1.0, 1.0])
        >>> state = opt.init(params)
        >>> _, state = opt.update(jnp.array([3.0, 3.0]), state)  # m = (0.3, 0.3)
        >>> opt.update(jnp.array([-1.0, -4.0]), state)[0]  # m = (0.17, −0.13)
        Array([-0.1,  0.1], dtype=float32)
    """
    lr = lr_block("signum", learning_rate)
    check_range("signum", "beta", beta, 0.0, 1.0, high_open=True)
    momentum = Ema(beta, dtype=m_dtype)
    return Chain((*sign(maximize), momentum, ScaleBySign(), lr), "signum")
