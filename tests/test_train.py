import itertools

import pytest
import torch
from torch.nn.functional import cross_entropy, one_hot

from conftest import CreatesAFile
from weightaug.augment import build_augmentation
from weightaug.inr.build import SplitConfig, build_dataset
from weightaug.inr.fit import FitConfig
from weightaug.inr.store import INRDataset
from weightaug.models import build_model
from weightaug.train import (
    Contrastive,
    INRClassification,
    PixelClassification,
    Splits,
    TrainConfig,
    linear_probe,
    nt_xent,
    pixel_model,
    soft_cross_entropy,
    train,
)
from weightaug.train.loop import warmup_cosine
from weightaug.weights import NetworkSpec, SpecMismatchError

SMALL_DWS = {"hidden": 8, "embed_dim": 32}


@pytest.fixture(scope="module")
def digits_inrs(tmp_path_factory, digits) -> INRDataset:
    """Every digit as one quickly fitted INR (zero-bias init, whose weights a model can learn from in seconds)."""
    root = tmp_path_factory.mktemp("train") / "digits"
    fit = FitConfig(steps=100, init="zero-bias", target_psnr=None, chunk_size=512)
    build_dataset(root, digits, NetworkSpec(output_offset=0.5), fit, SplitConfig(views=1), shard_size=4096)
    return INRDataset(root)


def splits_of(ds: INRDataset, n_train: int | None = None) -> Splits:
    train_part = ds.split("train")
    return Splits(train_part if n_train is None else train_part[:n_train], ds.split("val"), ds.split("test"))


def test_training_beats_chance_on_held_out_digits(digits_inrs):
    torch.manual_seed(0)
    model = build_model("dwsnet", digits_inrs.spec, 10, **SMALL_DWS)
    task = INRClassification(model, splits_of(digits_inrs))
    result = train(task, TrainConfig(epochs=10, batch_size=64, lr=3e-3))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # 270 test digits: chance is 10% (std 1.8 points); the best validation epoch must be far above it
    assert result.best["test_acc"] > 0.18, result.best
    assert len(result.history) == 10 and {"train_acc", "val_acc", "test_acc"} <= set(result.history[0])


def test_the_step_loss_is_the_training_steps_and_the_train_loss_the_evaluation(small_dataset):
    from weightaug.inr.store import INRDataset
    from weightaug.train import Splits, TrainConfig, train
    from weightaug.train.tasks import inr_task

    ds = INRDataset(small_dataset)
    splits = Splits(ds.split("train"), ds.split("val"), ds.split("test"))
    task = inr_task("mlp", splits, len(ds.classes), "noise:rel_std=0.5", None)
    seen = []
    step = task.loss
    task.loss = lambda batch, gen: seen.append(step(batch, gen)) or seen[-1]
    result = train(task, TrainConfig(epochs=1, batch_size=8))
    record = result.history[0]
    assert record["step_loss"] == pytest.approx(sum(x.item() for x in seen) / len(seen))
    assert record["train_loss"] != pytest.approx(record["step_loss"])  # evaluated without the noise, in eval()


def test_resumed_run_equals_uninterrupted(digits_inrs, tmp_path):
    def run(checkpoint, stop_after=None):
        torch.manual_seed(0)
        model = build_model("dwsnet", digits_inrs.spec, 10, **SMALL_DWS)
        augment = build_augmentation("noise,siren_negation,mixup_align", digits_inrs.spec)
        task = INRClassification(model, splits_of(digits_inrs, 128), augment)
        cfg = TrainConfig(epochs=3, batch_size=32, lr=3e-3, seed=5)
        return model, train(task, cfg, checkpoint, stop_after=stop_after)

    straight_model, straight = run(tmp_path / "a.pt")
    _, partial = run(tmp_path / "b.pt", stop_after=2)
    assert len(partial.history) == 2
    resumed_model, resumed = run(tmp_path / "b.pt")  # a fresh process would do exactly this
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    for (k, a), b in zip(straight_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), k
    assert resumed.best_epoch == straight.best_epoch


def test_checkpoint_of_another_config_is_refused(digits_inrs, tmp_path):
    model = build_model("mlp", digits_inrs.spec, 10, hidden=16, embed_dim=8)
    task = INRClassification(model, splits_of(digits_inrs, 64))
    train(task, TrainConfig(epochs=1, batch_size=32), tmp_path / "c.pt")
    with pytest.raises(ValueError, match="another configuration"):
        train(task, TrainConfig(epochs=2, batch_size=32), tmp_path / "c.pt")


def test_bad_splits_and_specs_fail_before_training(digits_inrs):
    other = build_model("dwsnet", NetworkSpec(hidden=(16, 16)), 10, **SMALL_DWS)
    with pytest.raises(SpecMismatchError, match=r"built for INRs of spec .*the train split holds"):
        INRClassification(other, splits_of(digits_inrs))
    model = build_model("dwsnet", digits_inrs.spec, 10, **SMALL_DWS)
    empty = Splits(digits_inrs.split("train")[:0], digits_inrs.split("val"), digits_inrs.split("test"))
    with pytest.raises(ValueError, match="train split is empty"):
        INRClassification(model, empty)


def test_pixel_baseline_learns_digits(digits_inrs, digits):
    images, labels = {}, {}
    for name in ("train", "val", "test"):
        ids = digits_inrs.column(name, "object_ids")
        images[name], labels[name] = digits.float_images(ids), digits.labels[ids]
    torch.manual_seed(0)
    task = PixelClassification(pixel_model("pixel-mlp", digits.shape, 10), images, labels, 10)
    result = train(task, TrainConfig(epochs=5, batch_size=64, lr=3e-3))
    assert result.best["test_acc"] > 0.85
    assert pixel_model("pixel-cnn", digits.shape, 10)(images["test"][:4]).shape == (4, 10)


def test_a_rank_with_an_empty_part_of_a_split_evaluates(digits_inrs, digits, monkeypatch):
    """Under DDP a split smaller than the world leaves some rank nothing to evaluate: it must not fail."""
    import weightaug.dist

    monkeypatch.setattr(weightaug.dist, "part", lambda n: slice(0, 0))
    inr = INRClassification(build_model("dwsnet", digits_inrs.spec, 10, **SMALL_DWS), splits_of(digits_inrs))
    ids = {name: digits_inrs.column(name, "object_ids") for name in ("train", "val", "test")}
    images = {name: digits.float_images(i) for name, i in ids.items()}
    pixels = PixelClassification(pixel_model("pixel-cnn", digits.shape, 10), images,
                                 {name: digits.labels[i] for name, i in ids.items()}, 10)  # fmt: skip
    for task in (inr, pixels):
        metrics = task.evaluate()  # alone, 0 of 0 (NaN); under DDP the sums of the other ranks fill it
        assert set(metrics) >= {"val_acc", "test_loss"} and all(v != v for v in metrics.values())


def test_soft_cross_entropy_and_schedule():
    logits, labels = torch.randn(8, 5), torch.arange(8) % 5
    torch.testing.assert_close(soft_cross_entropy(logits, one_hot(labels, 5).float()), cross_entropy(logits, labels))
    factors = [warmup_cosine(s, 10, 100) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == 1.0 and factors[-1] < 0.01
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))


@pytest.mark.parametrize(("optimizer", "after"), [("adam", 1.9), ("adamw", 2.0 * (1 - 0.1 * 0.01))])
def test_adam_puts_weight_decay_in_the_gradient_adamw_beside_it(optimizer, after):
    w = torch.nn.Parameter(torch.full((3,), 2.0))
    opt = TrainConfig(optimizer=optimizer, lr=0.1, weight_decay=0.01).make_optimizer([w])
    w.grad = torch.zeros(3)  # no data gradient: only the decay moves w
    opt.step()
    # adam: the L2 gradient 0.01 * w is normalised by Adam to a full step of lr; adamw: w shrinks by lr * decay
    torch.testing.assert_close(w.detach(), torch.full((3,), after))


def test_nt_xent_prefers_matching_pairs():
    z = torch.randn(16, 8)
    assert nt_xent(z, z + 0.01 * torch.randn(16, 8), 0.1) < nt_xent(z, torch.randn(16, 8), 0.1)


def test_contrastive_with_view_positives_and_probe(tmp_path, digits):
    root = tmp_path / "mv"
    fit = FitConfig(steps=30, init="zero-bias", target_psnr=None)
    build_dataset(root, digits, NetworkSpec(output_offset=0.5), fit, SplitConfig(train_size=64, views=2))
    ds = INRDataset(root)
    torch.manual_seed(0)
    model = build_model("dwsnet", ds.spec, 10, **SMALL_DWS)
    task = Contrastive(model, splits_of(ds), build_augmentation("noise,permutation", ds.spec), positives="views")
    result = train(task, TrainConfig(epochs=2, batch_size=32))
    assert 0 <= result.best["test_acc"] <= 1 and result.history[-1]["step_loss"] > 0
    with pytest.raises(ValueError, match="at least 2 views"):
        Contrastive(
            model, splits_of(ds).__class__(ds.split("train", 1), ds.split("val"), ds.split("test")), positives="views"
        )


def test_linear_probe_separates_separable_embeddings():
    g = torch.Generator().manual_seed(0)
    centres = 5 * torch.randn(3, 4, generator=g)

    def part(n):
        y = torch.arange(n) % 3
        return centres[y] + torch.randn(n, 4, generator=g), y

    accs = linear_probe({"train": part(90), "test": part(30)})
    assert accs["test_acc"] > 0.9


def test_checkpoints_are_read_as_plain_data_only(digits_inrs, tmp_path):
    model = build_model("mlp", digits_inrs.spec, 10, hidden=16, embed_dim=8)
    task = INRClassification(model, splits_of(digits_inrs, 64))
    cfg = TrainConfig(epochs=2, batch_size=32)
    train(task, cfg, tmp_path / "ok.pt", stop_after=1)
    assert len(train(task, cfg, tmp_path / "ok.pt").history) == 2  # what the loop writes, it reads back
    torch.save({"config": CreatesAFile(tmp_path / "pwned")}, tmp_path / "crafted.pt")
    with pytest.raises(ValueError, match=r"crafted.pt was refused: it would call .*open.*resume only from"):
        train(task, cfg, tmp_path / "crafted.pt")
    assert not (tmp_path / "pwned").exists()


def _killed_then_rerun(args: list[str], out) -> tuple[list, list]:
    """Histories of ``weightaug ARGS`` run straight into ``out/straight``, and killed with SIGKILL after its
    first checkpoint then rerun into ``out/killed``."""
    import json
    import signal
    import subprocess
    import sys
    import time

    def command(folder):
        return [sys.executable, "-m", "weightaug", *args, "--out", str(folder)]

    straight = subprocess.run(command(out / "straight"), capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr
    victim = subprocess.Popen(command(out / "killed"), stderr=subprocess.DEVNULL)
    checkpoint, deadline = out / "killed" / "checkpoint.pt", time.time() + 300
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL and not (out / "killed" / "results.json").exists()
    rerun = subprocess.run(command(out / "killed"), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    records = [json.loads((out / f / "results.json").read_text()) for f in ("straight", "killed")]
    return [r["history"] for r in records], [r["best_epoch"] for r in records]


def test_kill_9_during_train_then_rerun_equals_an_uninterrupted_run(small_dataset, tmp_path):
    args = ["train", str(small_dataset), "--augment", "noise,siren_negation", "--epochs", "30", "--batch-size", "4"]
    histories, best = _killed_then_rerun(args, tmp_path)
    assert histories[0] == histories[1] and best[0] == best[1]


def test_kill_9_during_was_train_then_rerun_equals_an_uninterrupted_run(tmp_path):
    args = ["was", "train", "--data", "digits", "--transform", "paper", "--epochs", "4", "--train-size", "200"]
    args += ["--val-size", "100", "--recipe", "weak"]
    histories, best = _killed_then_rerun(args, tmp_path)
    assert histories[0] == histories[1] and best[0] == best[1]
