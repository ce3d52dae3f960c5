"""Parameter groups, gradient accumulation and the plateau controller."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import to_f32

import gdtx

PARAMS = {
    "encoder": {"w": np.ones((3, 2)), "b": np.zeros(2)},
    "decoder": {"w": 2 * np.ones((2, 3)), "b": np.ones(3)},
    "head": np.full(4, 0.5),
}


def _grads(seed):
    rng = np.random.default_rng(seed)
    return to_f32(jax.tree.map(lambda x: rng.standard_normal(np.shape(x)), PARAMS))


def _run(opt, params, grads, **extra):
    state = opt.init(params)
    step = jax.jit(opt.update)
    for g in grads:
        updates, state = step(g, state, params, **extra)
        params = gdtx.apply_updates(params, updates)
    return params, state


def _close(a, b, rtol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize(
    "labels",
    [
        {"encoder/*": "frozen", "decoder/*": "sgd", "head": "adam"},
        {re.compile(r"encoder/.*"): "frozen", re.compile(r"decoder/(w|b)"): "sgd", "head": "adam"},
        lambda p: {
            "encoder": {"w": "frozen", "b": "frozen"},
            "decoder": {"w": "sgd", "b": "sgd"},
            "head": "adam",
        },
    ],
    ids=["glob", "regex", "function"],
)
def test_partition_matches_optax_multi_transform(labels):
    params = to_f32(PARAMS)
    grads = [_grads(i) for i in range(20)]
    ours = gdtx.partition(
        {"frozen": gdtx.set_to_zero(), "sgd": gdtx.sgd(0.1, momentum=0.9), "adam": gdtx.adam(0.01)},
        labels,
    )
    label_tree = {
        "encoder": {"w": "frozen", "b": "frozen"},
        "decoder": {"w": "sgd", "b": "sgd"},
        "head": "adam",
    }
    theirs = optax.multi_transform(
        {
            "frozen": optax.set_to_zero(),
            "sgd": optax.sgd(0.1, momentum=0.9),
            "adam": optax.adam(0.01),
        },
        label_tree,
    )
    got, state = _run(ours, params, grads)
    with jax.numpy_dtype_promotion("standard"):
        want, _ = _run(theirs, params, grads)
    _close(got, want, rtol=1e-5)
    _close(got["encoder"], params["encoder"])  # frozen
    assert state.inner["frozen"] == gdtx.EmptyState()  # frozen leaves carry no state
    assert len(state.inner["adam"][0].m) == 1  # Adam's moments only for the head


def test_partition_names_unassigned_overlapping_and_unknown_paths():
    params = to_f32(PARAMS)
    txs = {"a": gdtx.sgd(0.1), "b": gdtx.adam(0.1)}
    with pytest.raises(ValueError, match=r"no label for: decoder/b, decoder/w, head"):
        gdtx.partition(txs, {"encoder/*": "a"}).init(params)
    with pytest.raises(ValueError, match=r"several labels for: head \(a, b\)"):
        gdtx.partition(txs, {"*": "a", "head": "b"}).init(params)
    with pytest.raises(ValueError, match=r"labels without a transformation.*head \(c\)"):
        gdtx.partition(txs, {"encoder/*": "a", "decoder/*": "b", "head": "c"}).init(params)


def test_ndim_mask_decays_matrices_only_like_optax():
    params = to_f32(PARAMS)
    grads = [_grads(i) for i in range(10)]
    got, _ = _run(gdtx.adamw(0.01, weight_decay=0.5, mask=gdtx.ndim_mask()), params, grads)
    mask = jax.tree.map(lambda x: x.ndim > 1, params)
    with jax.numpy_dtype_promotion("standard"):
        want, _ = _run(optax.adamw(0.01, weight_decay=0.5, mask=mask), params, grads)
    _close(got, want, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_accumulate_equals_the_inner_optimizer_on_mean_gradients(k):
    params = to_f32(PARAMS)
    micro = [_grads(i) for i in range(4 * k)]
    lr = gdtx.exponential_decay(0.05, transition_steps=1, decay_rate=0.8)
    got, state = _run(gdtx.accumulate(gdtx.adam(lr), k), params, micro)
    means = [
        jax.tree.map(lambda *g: sum(g) / k, *micro[i : i + k]) for i in range(0, len(micro), k)
    ]
    want, ref_state = _run(gdtx.adam(lr), params, means)
    _close(got, want, rtol=1e-5)
    assert int(state.count) == int(ref_state.count) == 4  # optimizer steps, not micro-steps
    if k == 1:  # no buffer: the state is the inner optimizer's own
        assert jax.tree.structure(state) == jax.tree.structure(ref_state)
    with jax.numpy_dtype_promotion("standard"):
        optax_params, _ = _run(
            optax.MultiSteps(optax.adam(0.05), every_k_schedule=k), params, micro
        )
    if k > 1:  # Optax's MultiSteps agrees at constant learning rate
        got_const, _ = _run(gdtx.accumulate(gdtx.adam(0.05), k), params, micro)
        _close(got_const, optax_params, rtol=1e-5)


def test_accumulate_outputs_zero_until_the_kth_micro_step():
    opt = gdtx.accumulate(gdtx.sgd(1.0), every_k=3)
    state = opt.init(jnp.zeros(2))
    outs = []
    for g in (1.0, 2.0, 6.0, 3.0):
        out, state = opt.update(jnp.full(2, g), state)
        outs.append(float(out[0]))
    assert outs == [0.0, 0.0, -3.0, 0.0]
    assert int(state.count) == 1 and int(state.inner.micro) == 1


def _torch_plateau_scales(losses, **kwargs):
    """PyTorch's ReduceLROnPlateau (mode min, threshold_mode rel) as a reference, lr 1."""
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    scales = []
    for loss in losses:
        sched.step(loss)
        scales.append(opt.param_groups[0]["lr"])
    return scales


def test_reduce_on_plateau_follows_torch():
    rng = np.random.default_rng(0)
    losses = list(np.concatenate([np.linspace(5, 1, 15), 1 + 0.01 * rng.random(40)]))
    opt = gdtx.chain(
        gdtx.sgd(1.0), gdtx.reduce_on_plateau(factor=0.5, patience=3, rtol=1e-3, cooldown=2)
    )
    state = opt.init(jnp.zeros(1))
    ours = []
    step = jax.jit(opt.update)
    for loss in losses:
        _, state = step(jnp.ones(1), state, value=loss)
        ours.append(float(state.inner[1].scale))
    theirs = _torch_plateau_scales(
        losses, mode="min", factor=0.5, patience=3, threshold=1e-3, cooldown=2
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert ours[-1] < 0.1


def test_reduce_on_plateau_needs_the_loss():
    opt = gdtx.chain(gdtx.sgd(1.0), gdtx.reduce_on_plateau())
    with pytest.raises(ValueError, match="value=loss"):
        opt.update(jnp.ones(1), opt.init(jnp.zeros(1)))


def test_wrappers_forward_the_loss_and_the_completed_step():
    """apply_if_finite passes value= through to reduce_on_plateau, and accumulate's
    optimizer-step count through to the counter."""
    opt = gdtx.apply_if_finite(
        gdtx.accumulate(
            gdtx.chain(gdtx.sgd(1.0), gdtx.reduce_on_plateau(factor=0.5, patience=0)), 2
        )
    )
    state = opt.init(jnp.zeros(1))
    for loss in (1.0, 1.0, 2.0, 2.0):
        _, state = opt.update(jnp.ones(1), state, value=loss)
    assert int(state.count) == 2
    assert float(state.inner.inner.inner[1].scale) == 0.5
