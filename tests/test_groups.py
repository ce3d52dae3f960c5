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
    m = optax.tree_utils.tree_get(state.inner["adam"], "m")
    assert len(jax.tree.leaves(m)) == 1  # Adam's moments only for the head


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
    assert int(state.count) == 4 * k  # update calls (micro-steps)
    assert int(ref_state.count) == 4
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
    assert int(state.count) == 4  # micro-steps; the inner optimizer has seen ⌊4/3⌋ = 1


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


def test_wrappers_forward_the_loss_and_the_learning_rate_count():
    """apply_if_finite passes value= through to reduce_on_plateau, and the learning rate
    is read at the optimizer steps accumulate completed."""
    opt = gdtx.apply_if_finite(
        gdtx.accumulate(
            gdtx.chain(gdtx.sgd(1.0), gdtx.reduce_on_plateau(factor=0.5, patience=0)), 2
        )
    )
    state = opt.init(jnp.zeros(1))
    for loss in (1.0, 1.0, 2.0, 2.0):
        _, state = opt.update(jnp.ones(1), state, value=loss)
    assert int(state.count) == 4
    assert float(state.inner.inner.inner[1].scale) == 0.5


def test_accumulate_inside_a_group_gives_frozen_leaves_no_buffer():
    """partition({"train": accumulate(...), "frozen": set_to_zero()}) equals
    accumulate(partition(...)), counts optimizer steps, and buffers the trained leaves only."""
    params = to_f32(PARAMS)
    micro = [_grads(i) for i in range(6)]
    labels = {"encoder/*": "frozen", "decoder/*": "train", "head": "train"}
    inner = gdtx.adamw(0.05, weight_decay=0.1, mask=gdtx.ndim_mask())
    nested = gdtx.partition(
        {"train": gdtx.accumulate(inner, 3), "frozen": gdtx.set_to_zero()}, labels
    )
    outer = gdtx.accumulate(
        gdtx.partition({"train": inner, "frozen": gdtx.set_to_zero()}, labels), 3
    )
    got, state = _run(nested, params, micro)
    want, outer_state = _run(outer, params, micro)
    _close(got, want)
    assert int(state.count) == int(outer_state.count) == 6
    assert state.inner["frozen"] == gdtx.EmptyState()
    assert len(jax.tree.leaves(state.inner["train"].total)) == 3  # decoder w, b, head
    assert len(jax.tree.leaves(outer_state.inner.total)) == 5


def test_masked_accumulate_counts_optimizer_steps():
    sched = gdtx.piecewise_constant_schedule(1.0, {1: 0.5})
    opt = gdtx.masked(gdtx.accumulate(gdtx.sgd(sched), 2), {"a": True, "b": False})
    params = {"a": jnp.zeros(1), "b": jnp.zeros(1)}
    state = opt.init(params)
    outs = []
    for _ in range(4):
        out, state = opt.update({"a": jnp.ones(1), "b": jnp.ones(1)}, state)
        outs.append(float(out["a"][0]))
    assert outs == [0.0, -1.0, 0.0, -0.5]  # the schedule sees optimizer steps 0 and 1
    assert int(state.count) == 4


def test_reduce_on_plateau_hyperparameters_are_leaves():
    """factor, patience, cooldown, ... are pytree leaves: vmapped, and jit arguments that
    do not recompile."""
    losses = jnp.array([3.0, 2.0, 2.0, 2.0, 2.0, 2.0])

    def final_scale(factor, patience):
        opt = gdtx.chain(gdtx.sgd(1.0), gdtx.reduce_on_plateau(factor=factor, patience=patience))
        state = opt.init(jnp.zeros(1))
        for loss in losses:
            _, state = opt.update(jnp.ones(1), state, value=loss)
        return state.inner[1].scale

    scales = jax.vmap(final_scale)(jnp.array([0.5, 0.5, 0.2]), jnp.array([1.0, 3.0, 1.0]))
    np.testing.assert_allclose(scales, [0.25, 0.5, 0.04], rtol=1e-6)

    step = jax.jit(lambda opt, g, s, loss: opt.update(g, s, value=loss))
    for factor, patience in [(0.5, 1), (0.3, 2)]:
        opt = gdtx.chain(gdtx.sgd(1.0), gdtx.reduce_on_plateau(factor=factor, patience=patience))
        step(opt, jnp.ones(1), opt.init(jnp.zeros(1)), 1.0)
    assert step._cache_size() == 1


def test_a_pattern_labels_a_whole_subtree_and_paths_read_like_the_model():
    """A pattern matches a leaf's "/"-joined path or an enclosing subtree's: "encoder"
    labels every leaf under it, and Flax NNX's ".../kernel/value" leaves match
    ".../kernel"."""
    params = to_f32(PARAMS)
    opt = gdtx.partition(
        {"frozen": gdtx.set_to_zero(), "train": gdtx.sgd(0.1)},
        {"encoder": "frozen", re.compile("dec.*"): "train", "head": "train"},
    )
    updates, _ = opt.update(params, opt.init(params))
    assert float(jnp.abs(updates["encoder"]["w"]).sum()) == 0.0
    _close(updates["decoder"], jax.tree.map(lambda x: -0.1 * x, params["decoder"]))

    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    opt = gdtx.partition(
        {"decay": gdtx.adamw(0.1, weight_decay=0.1), "plain": gdtx.adam(0.1)},
        {"kernel": "decay", "bias": "plain"},
    )
    inner = opt.init(state).inner
    m = optax.tree_utils.tree_get(inner["decay"], "m")
    assert [jnp.shape(x) for x in jax.tree.leaves(m)] == [(3, 2)]
    with pytest.raises(ValueError, match=r"no label for: bias/value"):
        gdtx.partition({"a": gdtx.adam(0.1)}, {"kernel/value": "a"}).init(state)


def test_partition_groups_see_the_shared_counter():
    """Each group's schedule reads the optimizer's one step counter."""
    lr = gdtx.piecewise_constant_schedule(1.0, {2: 0.1})
    opt = gdtx.partition({"a": gdtx.sgd(lr), "b": gdtx.sgd(lr)}, {"a": "a", "b": "b"})
    params = {"a": jnp.zeros(1), "b": jnp.zeros(1)}
    state = opt.init(params)
    outs = []
    for _ in range(3):
        updates, state = opt.update({"a": jnp.ones(1), "b": jnp.ones(1)}, state)
        outs.append((float(updates["a"][0]), float(updates["b"][0])))
    np.testing.assert_allclose(outs, [(-1, -1), (-1, -1), (-0.1, -0.1)], rtol=1e-6)
    assert int(state.count) == 3


def test_flax_nnx_optimizer_passes_the_loss_to_reduce_on_plateau():
    nnx = pytest.importorskip("flax.nnx")
    model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
    tx = gdtx.chain(gdtx.adam(0.1), gdtx.reduce_on_plateau(factor=0.5, patience=0))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    for loss in (1.0, 2.0, 3.0):
        grads = nnx.grad(lambda m: jnp.sum(m(jnp.ones((1, 2)))))(model)
        optimizer.update(model, grads, value=jnp.asarray(loss))
    assert float(optimizer.opt_state.inner[1].scale[...]) == 0.25


@pytest.mark.parametrize(
    "opt",
    [
        gdtx.adam(0.1),
        gdtx.rmsprop(0.1, centered=True),
        gdtx.accumulate(gdtx.adam(0.1), 2),
        gdtx.partition({"a": gdtx.accumulate(gdtx.sgd(0.1, momentum=0.9), 2)}, {"*": "a"}),
    ],
    ids=["adam", "rmsprop", "accumulate", "partition"],
)
def test_numpy_float64_parameters_need_no_x64(opt):
    """NumPy float64 leaves (x64 off) become float32 state without a dtype warning
    (warnings are errors here); Python floats are accepted by init."""
    params = {"w": np.ones(3), "b": np.zeros(2)}
    state = opt.init(params)
    for _ in range(2):
        updates, state = opt.update(params, state, params)
    assert {x.dtype for x in jax.tree.leaves(state) if x.ndim} == {jnp.dtype(jnp.float32)}
    assert updates["w"].dtype == jnp.float32
    opt.init({"w": 1.0})
