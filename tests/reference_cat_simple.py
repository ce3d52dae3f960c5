"""Float64 NumPy references for the sign-based, optimistic, noisy, Rprop, averaged and Polyak
methods, written from the papers' equations (conventions as in tests/reference.py: nothing
here imports gdtx; t counts from 1; a learning rate is a number or a function of t − 1)."""

from __future__ import annotations

import numpy as np
from reference import Optimizer


class SignSGD(Optimizer):
    """signSGD (Bernstein et al., 2018, arXiv:1802.04434, Algorithm 1): θ ← θ − α·sign(g)."""

    def __init__(self, learning_rate, *, maximize=False):
        self.learning_rate, self.maximize = learning_rate, maximize

    def update_leaf(self, key, p, g, s, alpha, t):
        g = -g if self.maximize else g
        return p - alpha * np.sign(g), s


class Signum(Optimizer):
    """Signum (Bernstein et al., 2018, Algorithm 3): m ← βm + (1 − β)g; θ ← θ − α·sign(m)."""

    def __init__(self, learning_rate, beta=0.9, m_dtype=None, *, maximize=False):
        del m_dtype
        self.learning_rate, self.beta, self.maximize = learning_rate, beta, maximize

    def init_leaf(self, p):
        return np.zeros_like(p)

    def update_leaf(self, key, p, g, m, alpha, t):
        g = -g if self.maximize else g
        m = self.beta * m + (1 - self.beta) * g
        return p - alpha * np.sign(m), m
