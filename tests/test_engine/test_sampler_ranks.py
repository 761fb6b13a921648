"""Pretraining's ``ResumableSampler`` split over 1 to 4 ranks: what one epoch hands out, the per-sample seeds and
a resumed epoch, compared with what one rank is handed.

No process group: mmengine's ``DefaultSampler`` (its base) takes the rank and the world size from
``mmengine.dist.get_dist_info``, which :func:`sampler_of` replaces for each rank in turn.
"""
import math
from collections import Counter

import pytest
from mmengine.dataset import DefaultSampler
from mmengine.dataset import sampler as mmengine_sampler

from lvseg.engine.mid_epoch_resume import ResumableSampler

SEED = 7  # the sampler's seed, as the runner passes its randomness.seed
WORLD_SIZES = (1, 2, 3, 4)


def sampler_of(rank: int, world_size: int, size: int, kind: type = ResumableSampler, epoch: int = 0):
    """The train sampler (shuffled, mmengine's round-up) of rank ``rank`` of ``world_size`` over ``size``
    samples, set to ``epoch``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmengine_sampler, 'get_dist_info', lambda: (rank, world_size))
        sampler = kind(list(range(size)), shuffle=True, seed=SEED)
    assert (sampler.rank, sampler.world_size) == (rank, world_size)
    sampler.set_epoch(epoch)
    return sampler


def epoch_on_ranks(world_size: int, size: int, epoch: int = 0) -> list[list]:
    """Each rank's indices (``SeededIndex`` es) for one epoch."""
    return [list(sampler_of(rank, world_size, size, epoch=epoch)) for rank in range(world_size)]


def one_rank_order(size: int, epoch: int = 0) -> list[int]:
    """The order one rank trains on."""
    return [int(index) for index in sampler_of(0, 1, size, epoch=epoch)]


@pytest.mark.parametrize('world_size', WORLD_SIZES)
def test_an_epoch_hands_out_every_sample_once_when_the_ranks_divide_the_data_set(world_size):
    shards = epoch_on_ranks(world_size, size=12)

    assert Counter(int(i) for shard in shards for i in shard) == Counter(range(12))
    assert [len(shard) for shard in shards] == [12 // world_size] * world_size


@pytest.mark.parametrize(('size', 'world_size'), [(7, 2), (7, 3), (7, 4), (10, 3), (10, 4), (13, 2), (13, 4)])
def test_an_epoch_pads_the_ranks_with_the_first_samples_of_the_order_when_they_do_not_divide_it(size, world_size):
    shards = epoch_on_ranks(world_size, size)
    per_rank = math.ceil(size / world_size)
    padding = per_rank * world_size - size

    counts = Counter(int(i) for shard in shards for i in shard)
    assert set(counts) == set(range(size))  # every sample at least once
    assert sum(counts.values()) - size == padding  # and exactly ``padding`` repeats
    # mmengine repeats the order from its start, each repeated sample once; every rank has as many batches
    assert sorted(i for i, n in counts.items() if n == 2) == sorted(one_rank_order(size)[:padding])
    assert max(counts.values()) == 2
    assert [len(shard) for shard in shards] == [per_rank] * world_size


@pytest.mark.parametrize('world_size', WORLD_SIZES)
def test_resumable_sampler_hands_out_the_indices_of_mmengines_default_sampler(world_size):
    for epoch in (0, 1):
        for rank in range(world_size):
            ours = sampler_of(rank, world_size, 13, epoch=epoch)
            theirs = sampler_of(rank, world_size, 13, kind=DefaultSampler, epoch=epoch)
            assert [int(i) for i in ours] == list(theirs)
            assert len(ours) == len(theirs)


@pytest.mark.parametrize('world_size', (2, 4))
def test_step_i_of_the_ranks_trains_on_the_samples_of_step_i_of_one_rank(world_size):
    """With a total batch B (B / world_size per rank) and a data set that B divides, each step's union over the
    ranks is the one-rank run's batch of that step: the premise of comparing 2 x B/2 with 1 x B."""
    size, total_batch = 12, 4
    per_rank = total_batch // world_size
    one_rank = one_rank_order(size)
    shards = [[int(i) for i in shard] for shard in epoch_on_ranks(world_size, size)]

    for step in range(size // total_batch):
        on_ranks = [i for shard in shards for i in shard[step * per_rank:(step + 1) * per_rank]]
        assert sorted(on_ranks) == sorted(one_rank[step * total_batch:(step + 1) * total_batch])


def test_a_sample_has_one_seed_per_epoch_whichever_rank_and_rank_count_hand_it_out():
    """mid_epoch_resume: a sample's seed derives from (sampler seed, epoch, index), so its augmentation does not
    depend on which rank loads it, nor on how many ranks there are; a padded sample repeats its seed."""
    size = 7
    seeds = {}  # (world size, epoch) -> {index: seed}
    for world_size in WORLD_SIZES:
        for epoch in (0, 1):
            pairs = {(int(i), i.seed) for shard in epoch_on_ranks(world_size, size, epoch) for i in shard}
            by_index = {index: seed for index, seed in pairs}
            assert len(by_index) == len(pairs) == size  # one seed per sample, repeats included
            seeds[world_size, epoch] = by_index

    assert all(seeds[world_size, epoch] == seeds[1, epoch] for world_size in WORLD_SIZES for epoch in (0, 1))
    assert all(seeds[1, 0][index] != seeds[1, 1][index] for index in range(size))  # a new epoch, new draws
    assert len(set(seeds[1, 0].values())) == size  # and samples do not share a seed


@pytest.mark.parametrize('world_size', WORLD_SIZES)
def test_start_at_resumes_each_rank_with_the_tail_of_its_order(world_size):
    size, epoch = 13, 3
    for rank in range(world_size):
        sampler = sampler_of(rank, world_size, size, epoch=epoch)
        full = [(int(i), i.seed) for i in sampler]
        assert len(full) == len(sampler) == math.ceil(size / world_size)
        for position in range(len(full)):
            sampler.start_at(position)
            assert [(int(i), i.seed) for i in sampler] == full[position:]
            assert [(int(i), i.seed) for i in sampler] == full  # only the next pass starts part-way
        with pytest.raises(ValueError, match=f'this rank has {len(full)}'):
            sampler.start_at(len(full))
