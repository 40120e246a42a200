"""Batches as a pure function of (seed, step): a resumed run sees exactly the batches it would have seen.

A sample is one annotated person (its crop is centred on them). Epoch e visits every sample once,
in the order of a permutation drawn from np.random.default_rng([seed, e]); global batch `step`
holds the samples at global positions step * batch_size ... (step + 1) * batch_size - 1 of the
concatenated epochs, and the example at position g is augmented with np.random.default_rng([seed,
step, g]). No iterator state exists, so nothing needs checkpointing. Minimal: grain replaces it later.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np

from ltsh_jax.augment import AugmentParams, make_person_sample
from ltsh_jax.mpii_json import ImageRecord, decode_image
from ltsh_jax.people import People, check_people
from ltsh_jax.skeleton import Skeleton


class PersonSamples:
    """The flat list of (image index, person index) samples of some records, and a small image cache.

    Every person with at least one labelled joint is a sample. Decoded images are kept in an LRU
    cache of `cache_size` images, since consecutive samples often share an image.
    """

    def __init__(self, records: Sequence[ImageRecord], cache_size: int = 64):
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.records = list(records)
        self.samples: list[tuple[int, int]] = [
            (i, int(p)) for i, record in enumerate(self.records) for p in np.flatnonzero(record.labelled.any(axis=1))
        ]
        if not self.samples:
            raise ValueError(f"no annotated people in {len(self.records)} image records")
        self.cache_size = cache_size
        self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, index: int) -> np.ndarray:
        """Decoded uint8 [H, W, 3] image of record `index` (cached, least recently used evicted)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = decode_image(self.records[index].image_path)
        image.flags.writeable = False  # shared by every sample of the image
        self._cache[index] = image
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image


def sample_indices(num_samples: int, positions: np.ndarray, seed: int) -> np.ndarray:
    """Sample index at each global position: epoch-wise permutations, every sample once per epoch."""
    epochs, offsets = np.divmod(np.asarray(positions, np.int64), num_samples)
    out = np.empty_like(offsets)
    for epoch in np.unique(epochs):
        order = np.random.default_rng([seed, int(epoch)]).permutation(num_samples)
        here = epochs == epoch
        out[here] = order[offsets[here]]
    return out


def stack_people(people: Sequence[People]) -> People:
    """Per-crop People [P, ...] -> one People [B, P, ...]."""
    fields = ("keypoints", "labelled", "valid", "is_synthetic")
    return People(**{f: np.stack([np.asarray(getattr(p, f)) for p in people]) for f in fields})


def batch_for_step(
    samples: PersonSamples,
    step: int,
    *,
    batch_size: int,
    seed: int,
    params: AugmentParams,
    skeleton: Skeleton,
    max_people: int,
    stride: int = 8,
    augment: bool = True,
    process_index: int = 0,
    process_count: int = 1,
) -> dict[str, np.ndarray | People]:
    """This process's contiguous slice (batch_size // process_count examples) of global batch `step`.

    Returns dict(image=uint8 [b, S, S, 3], people=People [b, max_people, ...],
    ignore_mask=uint8 [b, S/stride, S/stride], is_synthetic=bool [b]).
    """
    if step < 0 or seed < 0:
        raise ValueError(f"step and seed must be >= 0, got step={step}, seed={seed}")
    if batch_size < 1 or process_count < 1 or batch_size % process_count:
        raise ValueError(f"batch_size {batch_size} must be a positive multiple of process_count {process_count}")
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} out of range for process_count {process_count}")
    local = batch_size // process_count
    positions = step * batch_size + process_index * local + np.arange(local, dtype=np.int64)
    indices = sample_indices(len(samples), positions, seed)
    examples = []
    for position, index in zip(positions.tolist(), indices.tolist(), strict=True):
        image_index, person = samples.samples[index]
        record = samples.records[image_index]
        examples.append(
            make_person_sample(
                samples.image(image_index),
                record.keypoints,
                record.labelled,
                record.centers,
                record.scales,
                person,
                np.random.default_rng([seed, step, position]),
                params,
                skeleton,
                max_people,
                augment=augment,
                stride=stride,
            )
        )
    people = stack_people([e["people"] for e in examples])
    check_people(people, skeleton.num_parts)
    return dict(
        image=np.stack([e["image"] for e in examples]),
        people=people,
        ignore_mask=np.stack([e["ignore_mask"] for e in examples]),
        is_synthetic=np.zeros((local,), bool),
    )
