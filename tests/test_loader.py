import pytest
import torch
from torch.utils.data import DataLoader

from weightaug.augment import build_augmentation
from weightaug.inr.loader import INRBatches, INRItems, weight_batch
from weightaug.inr.store import INRDataset
from weightaug.rng import epoch_generator


def test_items_through_a_dataloader_with_workers_are_the_split(small_dataset):
    ds = INRDataset(small_dataset)
    part = ds.split("train")
    loader = DataLoader(INRItems(part), batch_size=5, num_workers=2)
    batches = list(loader)
    assert len(batches) == -(-len(part) // 5)
    joined = [weight_batch(b, ds.spec) for b in batches]
    assert joined[0].spec == ds.spec
    assert part.weights.equal(type(joined[0]).cat(joined))
    assert torch.equal(torch.cat([b["label"] for b in batches]), part.labels)
    assert torch.equal(torch.cat([b["view_id"] for b in batches]), part.view_ids)


def test_batches_follow_the_fast_sampler_epoch_by_epoch_in_workers(small_dataset):
    ds = INRDataset(small_dataset)
    part = ds.split("train")
    batches = INRBatches(part, 7, seed=3)
    for epoch in (0, 2):
        batches.set_epoch(epoch)
        got = list(DataLoader(batches, batch_size=None, num_workers=2))
        expected = list(part.batches(7, generator=epoch_generator(3, epoch)))
        assert len(got) == len(expected) == len(batches)
        for a, b in zip(got, expected):
            assert weight_batch(a, ds.spec).equal(b.weights) and torch.equal(a["object_id"], b.object_ids)
    assert len(INRBatches(part, 7, drop_last=True)) == len(part) // 7
    with pytest.raises(IndexError):
        batches[len(batches)]
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        INRBatches(part, 0)


def test_a_users_own_model_trains_on_weightaug_data_with_augmentations_in_a_plain_loop(small_dataset):
    """The README's "With your own trainer" loop: a DataLoader, weightaug's augmentations, the user's model."""
    torch.manual_seed(0)
    ds = INRDataset(small_dataset)
    train = INRBatches(ds.split("train"), batch_size=8, seed=0)
    augment = build_augmentation("noise,dropout", ds.spec)
    model = torch.nn.Sequential(torch.nn.Linear(ds.spec.n_params, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator, losses = torch.Generator().manual_seed(0), []
    for epoch in range(15):
        train.set_epoch(epoch)
        for batch in DataLoader(train, batch_size=None, num_workers=1):
            targets = torch.nn.functional.one_hot(batch["label"], 10).float()
            weights, targets = augment(weight_batch(batch, ds.spec), targets, generator)
            loss = torch.nn.functional.cross_entropy(model(weights.flatten() * 10), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert sum(losses[-3:]) < 0.5 * sum(losses[:3])
