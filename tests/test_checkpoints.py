"""ltsh_jax.checkpoints: every named item comes back as saved, in one step directory; an old-layout
checkpoint (teacher in a second series) still gives its parameters but refuses to resume with one line."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from ltsh_jax.checkpoints import Checkpointer, OldLayoutError
from ltsh_jax.models.teacher import Teacher, init_teacher_params
from ltsh_jax.teacher import hook, update


def _student():
    params = {"conv": {"kernel": jnp.arange(6.0).reshape(2, 3), "bias": jnp.ones(3)}}
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)
    _, opt_state = optimizer.update(jax.tree_util.tree_map(jnp.ones_like, params), opt_state, params)
    return params, opt_state


def _teacher_items():
    """A teacher state after one update (non-trivial history and Adam moments) and a running block."""
    model, optimizer = Teacher(3, width=0.0625), update.teacher_optimizer(1e-3, history=4)
    params = init_teacher_params(model, 16, seed=0)
    opt_state = optimizer.init(params)
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    _, opt_state = optimizer.update(grads, opt_state, params, synthetic_loss=2.5)
    rng = np.random.default_rng(0)
    state = hook.TeacherState(
        params=params,
        opt_state=opt_state,
        rng=jax.random.PRNGKey(7),
        group=jnp.int32(2),
        inputs=jnp.asarray(rng.integers(0, 255, (1, 16, 16, 3), np.uint8)),
    )
    block = {
        "synthetic_sum": np.float32(1.75),
        "synthetic_count": np.int32(3),
        "best_losses": np.array([0.5], np.float32),
        "best_images": rng.integers(0, 255, (1, 16, 16, 3), np.uint8),
    }
    return {hook.STATE_ITEM: state, hook.BLOCK_ITEM: block}


def _zeros_like(items):
    return jax.tree_util.tree_map(lambda a: np.zeros(np.shape(a), np.asarray(a).dtype), items)


def test_every_item_round_trips_in_one_step(tmp_path):
    params, opt_state = _student()
    items = {"params": params, "opt_state": opt_state, **_teacher_items()}
    meta = {"step": 5, "input_pipeline": {"schedule": [[0, None], [4, 1]], "decided_until": 6}}
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    checkpointer.save(5, items, meta)
    checkpointer.close()
    assert {p.name for p in (tmp_path / "checkpoints" / "5").iterdir() if p.is_dir()} == {*items, "meta"}

    checkpointer = Checkpointer(tmp_path / "checkpoints")
    restored, restored_meta = checkpointer.restore(5, _zeros_like(items))
    assert restored_meta == meta
    assert set(restored) == set(items)
    for name in items:
        assert jax.tree_util.tree_structure(restored[name]) == jax.tree_util.tree_structure(items[name]), name
        jax.tree_util.tree_map(np.testing.assert_array_equal, restored[name], items[name])
    teacher = restored[hook.STATE_ITEM]
    assert isinstance(teacher, hook.TeacherState)
    assert float(update.last_delta(teacher.opt_state)) == 0.0  # first update: no history yet
    np.testing.assert_array_equal(update.reward_state(teacher.opt_state).history, [2.5, 0, 0, 0])
    restored_params = checkpointer.restore_params(_zeros_like(params))
    jax.tree_util.tree_map(np.testing.assert_array_equal, restored_params, params)
    checkpointer.close()


def _write_old_layout(workdir, params, opt_state, teacher):
    """What the code before the named items wrote: params/opt_state/meta, the teacher in a second series
    whose params slot held the teacher's params, rng, group and crops and whose opt_state slot held
    (teacher optimizer state, block)."""
    state, block = teacher[hook.STATE_ITEM], teacher[hook.BLOCK_ITEM]
    for directory, first, second, meta in (
        (workdir / "checkpoints", params, opt_state, {"step": 3, "input_pipeline": {"schedule": [[0, None]]}}),
        (
            workdir / "teacher_checkpoints",
            {"params": state.params, "rng": state.rng, "group": state.group, "inputs": state.inputs},
            (state.opt_state, block),
            {"step": 3, "group": 2, "groups_digest": "x"},
        ),
    ):
        manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(create=True))
        manager.save(
            3,
            args=ocp.args.Composite(
                params=ocp.args.StandardSave(first),
                opt_state=ocp.args.StandardSave(second),
                meta=ocp.args.JsonSave(meta),
            ),
        )
        manager.close()


def test_an_old_layout_checkpoint_gives_params_but_refuses_to_resume_in_one_line(tmp_path):
    params, opt_state = _student()
    teacher = _teacher_items()
    _write_old_layout(tmp_path, params, opt_state, teacher)
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    jax.tree_util.tree_map(np.testing.assert_array_equal, checkpointer.restore_params(_zeros_like(params)), params)
    like = {"params": params, "opt_state": opt_state, **teacher}
    with pytest.raises(OldLayoutError, match=r"old-layout checkpoint .*init_from") as error:
        checkpointer.restore(3, like)
    assert "\n" not in str(error.value)
    checkpointer.close()


def test_a_checkpoint_without_the_teacher_items_names_them(tmp_path):
    params, opt_state = _student()
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    checkpointer.save(2, {"params": params, "opt_state": opt_state}, {"step": 2})
    checkpointer.wait()
    with pytest.raises(ValueError, match=r"no item \['teacher', 'teacher_block'\].*config.teacher.enabled"):
        checkpointer.restore(2, {"params": params, "opt_state": opt_state, **_teacher_items()})
    checkpointer.close()
