"""Training batches of person crops: half real, half from the active synthetic group, prefetched with grain.

A batch is a pure function of (seed, step, samples of the group active at that step) (see
sampling.py), so a resumed run sees the same batches once it restores the group schedule,
`Pipeline.state()`, which train.loop saves in each checkpoint's meta JSON. Host side: decode,
augment, pad people (crops.py), one grain map per step over threads; device side: targets.
Batches are prefetched ahead of the device, but never past `decided_until`, the first step whose
group the teacher has not chosen yet; `set_group` drops prefetched batches from its step on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import grain
import numpy as np

from ltsh_jax.data import crops, sampling
from ltsh_jax.data.augment import AugmentParams
from ltsh_jax.data.sampling import GroupSchedule, PersonIndex
from ltsh_jax.data.sources import PeopleSource, all_annotations
from ltsh_jax.people import check_people
from ltsh_jax.skeleton import Skeleton


class Pipeline:
    """This process's rows of every global batch, from a real and an optional synthetic source.

    Args: real / synthetic: PeopleSource; batch_size: global batch size; real_fraction: share of
    real slots (all real without a synthetic source); synthetic_people: 'synthetic' (crops centred on
    rendered humans only), 'real' (on the real people of composited images: D_M, D_Style) or 'all';
    groups: index lists over the synthetic samples (None: one group of all); num_workers: threads per
    batch (0: every core); prefetch: batches computed ahead; sigma, paf_width: the targets' (the
    support of people past max_people is masked, crops.make_example); rows: the global batch slots this
    process makes (`ltsh_jax.sharding.process_rows`; None: all).
    """

    def __init__(
        self,
        real: PeopleSource,
        synthetic: PeopleSource | None = None,
        *,
        batch_size: int,
        seed: int,
        params: AugmentParams,
        skeleton: Skeleton,
        max_people: int,
        stride: int = 8,
        sigma: float = 7.0,
        paf_width: float = 1.0,
        real_fraction: float = 0.5,
        synthetic_people: str = "synthetic",
        groups: Sequence[np.ndarray] | None = None,
        augment: bool = True,
        rows: Sequence[int] | None = None,
        num_workers: int = 0,
        prefetch: int = 2,
    ):
        self.sources = (real, synthetic)
        self.real_index = PersonIndex.build(all_annotations(real))
        self.synthetic_index = (
            None if synthetic is None else PersonIndex.build(all_annotations(synthetic), synthetic_people)
        )
        self.batch_size, self.seed, self.real_fraction = batch_size, seed, real_fraction
        self.crop_args = dict(
            params=params, skeleton=skeleton, max_people=max_people, stride=stride, sigma=sigma, paf_width=paf_width
        )
        self.augment, self.rows = augment, None if rows is None else np.asarray(rows, np.int64)
        self.num_workers = num_workers or os.cpu_count() or 1
        self.prefetch = prefetch
        self.schedule = GroupSchedule([(0, None)])
        self.decided_until: int | None = None  # None: every future step's group is known
        self.groups: list[np.ndarray] | None = None
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[int | None, Future]] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="prefetch") if prefetch > 0 else None
        self.set_groups(groups)
        sampling.plan_step(0, **self._plan_args(None))  # fail now on a bad batch size or rows

    # --- the teacher's controls -------------------------------------------------------------------
    def set_groups(self, groups: Sequence[np.ndarray] | None) -> None:
        """Groups as index lists over the synthetic samples (len(self.synthetic_index)); None: one group of all."""
        if groups is not None:
            if self.synthetic_index is None:
                raise ValueError("groups need a synthetic source")
            groups = [np.asarray(g, np.int64) for g in groups]
            for i, g in enumerate(groups):
                if g.ndim != 1 or (len(g) and (g.min() < 0 or g.max() >= len(self.synthetic_index))):
                    raise ValueError(f"group {i}: indices must be 1-D in [0, {len(self.synthetic_index)})")
        with self._lock:
            self.groups = groups
            self._drop_from(0)

    def set_group(self, group: int | None, from_step: int, until_step: int | None = None) -> None:
        """Synthetic slots come from `group` (None: all samples) from `from_step` on.

        until_step: the first step whose group is not decided yet (prefetching stops before it); None
        when it stays decided until the next call.
        """
        if group is not None and (self.groups is None or not 0 <= group < len(self.groups)):
            raise ValueError(f"group {group} is not one of the {0 if self.groups is None else len(self.groups)} groups")
        if group is not None and not len(self.groups[group]):
            raise ValueError(f"group {group} has no samples")
        with self._lock:
            self.schedule.set(group, from_step)
            self.decided_until = until_step
            self._drop_from(from_step)

    # --- batches ----------------------------------------------------------------------------------
    def batch(self, step: int) -> dict:
        """This process's rows of global batch `step`: dict(image uint8 [b, S, S, 3], people People [b, P, ...],
        ignore_mask uint8 [b, S/stride, S/stride], is_synthetic bool [b])."""
        with self._lock:
            group = self.schedule.group_at(step)
            entry = self._pending.pop(step, None)
            for old in [s for s in self._pending if s < step]:
                self._pending.pop(old)[1].cancel()
        if entry is not None and entry[0] == group and not entry[1].cancelled():
            out = entry[1].result()
        else:
            out = self._compute(step, group)
        self._schedule_ahead(step + 1)
        return out

    def _plan_args(self, group: int | None) -> dict:
        if self.synthetic_index is None:
            pool = None
        elif group is None:
            pool = np.arange(len(self.synthetic_index))
        else:
            pool = self.groups[group]
        return dict(
            seed=self.seed,
            batch_size=self.batch_size,
            real_fraction=self.real_fraction,
            num_real=len(self.real_index),
            synthetic_pool=pool,
            rows=self.rows,
        )

    def _compute(self, step: int, group: int | None) -> dict:
        with self._lock:
            args = self._plan_args(group)
        plan = sampling.plan_step(step, **args)
        items = list(zip(plan.slots.tolist(), plan.synthetic.tolist(), plan.samples.tolist(), strict=True))
        dataset = grain.MapDataset.source(items).map(lambda item: self._example(step, *item))
        read = grain.ReadOptions(num_threads=min(self.num_workers, len(items)), prefetch_buffer_size=len(items))
        examples = list(dataset.to_iter_dataset(read))
        out = crops.stack_examples(examples, plan.synthetic)
        check_people(out["people"], self.crop_args["skeleton"].num_parts)
        return out

    def _example(self, step: int, slot: int, synthetic: bool, sample: int) -> dict:
        index = self.synthetic_index if synthetic else self.real_index
        record = self.sources[int(synthetic)][int(index.record[sample])]
        rng = np.random.default_rng([self.seed, step, slot])
        return crops.make_example(record, int(index.person[sample]), rng, augment_crop=self.augment, **self.crop_args)

    def _schedule_ahead(self, first: int) -> None:
        if self._executor is None:
            return
        with self._lock:
            limit = first + self.prefetch
            if self.decided_until is not None:
                limit = min(limit, self.decided_until)
            for step in range(first, limit):
                group = self.schedule.group_at(step)
                if step not in self._pending:
                    self._pending[step] = (group, self._executor.submit(self._compute, step, group))

    def _drop_from(self, step: int) -> None:
        for s in [s for s in self._pending if s >= step]:
            self._pending.pop(s)[1].cancel()

    # --- checkpointed state -----------------------------------------------------------------------
    def state(self) -> dict:
        """JSON-able: what a resumed run needs besides (seed, step) to rebuild the same batches."""
        with self._lock:
            return {
                "schedule": self.schedule.to_json(),
                "decided_until": self.decided_until,
                "groups_digest": sampling.groups_digest(self.groups),
            }

    def restore(self, state: dict) -> None:
        """Restores `state()`; set the same groups first (ValueError when they differ from the saved ones)."""
        digest = sampling.groups_digest(self.groups)
        if state.get("groups_digest", "") != digest:
            raise ValueError(f"the saved pipeline state was made with groups {state.get('groups_digest')!r}, "
                             f"these are {digest!r}: set the same groups before restoring")  # fmt: skip
        with self._lock:
            self.schedule = GroupSchedule.from_json(state["schedule"])
            self.decided_until = state.get("decided_until")
            self._drop_from(0)

    def close(self) -> None:
        with self._lock:
            self._drop_from(0)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
