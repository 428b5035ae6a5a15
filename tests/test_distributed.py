"""Several processes under torchrun (2 gloo ranks on the CPU): the fit shares its shards out and equals a
single-process fit byte for byte; a killed run resumes under another world size."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SMALL_FIT, SMALL_SPLITS, SPEC
from weightaug.inr.build import build_dataset
from weightaug.inr.store import DatasetError, INRDataset

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# the conftest's small build, as `weightaug fit` options
FIT = ["fit", "--source", "digits", "--seed", "3", "--train-size", "12", "--val-size", "5", "--test-size", "6",
       "--views", "2", "--steps", "60", "--lr", "3e-3", "--target-psnr", "40", "--chunk-size", "16",
       "--hidden", "16,16", "--shard-size", "10"]  # fmt: skip


def shard_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.safetensors"))}


def test_torchrun_fit_equals_a_single_process_fit(tmp_path, small_dataset):
    out = tmp_path / "ds"
    r = subprocess.run([*TORCHRUN, "-m", "weightaug", *FIT, "--out", str(out)], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert shard_bytes(out) == shard_bytes(small_dataset)
    manifest, single = (json.loads((p / "manifest.json").read_text()) for p in (out, small_dataset))
    assert {**manifest, "fit_seconds": 0} == {**single, "fit_seconds": 0}
    assert r.stdout.count("source digits") == 1 and not list(out.glob(".*"))  # rank 0 alone prints and writes it
    # an error on rank 0 stops both ranks with its one-line message
    r = subprocess.run([*TORCHRUN, "-m", "weightaug", *FIT, "--views", "3", "--out", str(out)], env=ENV,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode != 0 and r.stderr.count("--overwrite") == 1 and "FileExistsError" not in r.stderr


RANK_PROCESS = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import SMALL_FIT, SMALL_SPLITS, SPEC
from weightaug.data.sources import load_source
from weightaug.inr.build import build_dataset
from weightaug.inr.store import DatasetError, INRDataset

def stall(n, psnr):  # rank 0 hangs while fitting its second shard, after writing its first
    if os.environ["RANK"] == "0" and psnr.numel() and (Path({root!r}) / "train-00000.safetensors").exists():
        time.sleep(600)

def share(n):  # each rank's count before fitting: the ranks' shares partition the dataset
    Path({root!r}).with_name("share-" + os.environ["RANK"]).write_text(str(n))

build_dataset({root!r}, load_source("digits"), SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=stall,
              share=share)
"""


def test_a_killed_torchrun_fit_resumes_with_one_process(tmp_path, digits, small_dataset):
    root, script = tmp_path / "ds", tmp_path / "rank.py"
    script.write_text(RANK_PROCESS.format(tests=str(Path(__file__).parent), root=str(root)))
    run = subprocess.Popen([*TORCHRUN, str(script)], env=ENV, stderr=subprocess.PIPE, start_new_session=True)
    record, deadline = root / ".shards-rank1.json", time.time() + 240
    # rank 1 fits every other unfinished shard: train-00001 and val-00000
    while not (record.exists() and len(json.loads(record.read_text())) == 2) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert record.exists(), run.stderr.read().decode()[-3000:]
    assert sum(int((tmp_path / f"share-{rank}").read_text()) for rank in "01") == 35
    listed = [e["file"] for e in json.loads((root / "manifest.json").read_text())["shards"]]
    assert listed == ["train-00000.safetensors"]  # rank 0's first; its second died with it
    with pytest.raises(DatasetError, match="unfinished .3 of 5 shards"):  # rank 1's two count too
        INRDataset(root)
    fitted, shares = [], []
    build_dataset(root, digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=lambda n, q: fitted.append(n),
                  share=shares.append)  # fmt: skip
    assert fitted[0] == 25 and sum(fitted) == 35  # three shards' INRs kept, the other two fitted
    assert shares == [35]  # one process: its share is the whole dataset
    assert shard_bytes(root) == shard_bytes(small_dataset) and not list(root.glob(".*"))


EXPERIMENT = ["experiment", "augmentations", "--preset", "digits", "--set", "train_size=40", "--set", "val_size=20",
              "--set", "test_size=20", "--set", "fit_steps=20", "--set", "epochs=2", "--set", "batch_size=16",
              "--set", "seeds=[0]", "--set", 'models=["dwsnet"]', "--set", 'pixel_models=["pixel-mlp"]',
              "--set", 'variants=["none", "siren_negation", "mixup_align"]']  # fmt: skip


def test_torchrun_spreads_an_experiments_runs_over_ranks(tmp_path):
    def run(*launcher: str, out: str) -> dict:
        args = [*launcher, "-m", "weightaug", *EXPERIMENT, "--out", str(tmp_path / out)]
        r = subprocess.run(
            [*args, "--data-root", str(tmp_path / out / "data")], env=ENV, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert not list((tmp_path / out).glob(".*")) and (tmp_path / out / "table.md").is_file()
        return json.loads((tmp_path / out / "results.json").read_text())["runs"]

    spread, single = run(*TORCHRUN, out="spread"), run(sys.executable, out="single")
    assert spread.keys() == single.keys() and len(spread) == 4  # 3 variants and the pixel baseline
    for key, result in single.items():
        assert spread[key]["history"] == result["history"], key  # a run does not depend on the rank it ran on


def test_runs_a_killed_rank_recorded_are_kept_by_the_next_run(tmp_path, monkeypatch):
    from weightaug.experiments import run_experiment

    overrides = {"train_size": 40, "val_size": 20, "test_size": 20, "fit_steps": 20, "epochs": 1, "batch_size": 16,
                 "seeds": [0], "models": ["dwsnet"], "pixel_models": [], "variants": ["none", "siren_negation"]}  # fmt: skip
    out = run_experiment(
        "augmentations", "digits", tmp_path / "a", tmp_path / "data", overrides=overrides, progress=False
    )
    runs = json.loads((out / "results.json").read_text())["runs"]
    first, second = runs
    monkeypatch.setenv("RANK", "1")  # rank 1 of a killed run had finished the second run; rank 0 the first
    from weightaug import dist

    dist.RankRecords(out, "runs").write({second: {**runs[second], "marker": "from rank 1"}})
    monkeypatch.setenv("RANK", "0")
    (out / "results.json").write_text(
        json.dumps({**json.loads((out / "results.json").read_text()), "runs": {first: runs[first]}})
    )
    from weightaug.experiments import load_config
    from weightaug.experiments.runner import _start

    _start(load_config("augmentations", "digits", overrides), out, dist.RankRecords(out, "runs"), fresh=False)
    on_disk = json.loads((out / "results.json").read_text())["runs"]  # folded in at once: a second kill keeps it
    assert on_disk[second]["marker"] == "from rank 1" and not list(out.glob(".runs-rank*"))
    run_experiment("augmentations", "digits", out, tmp_path / "data", overrides=overrides, progress=False)
    again = json.loads((out / "results.json").read_text())["runs"]
    assert again[second]["marker"] == "from rank 1" and again[first] == runs[first]  # nothing retrained
    assert not list(out.glob(".*"))


DDP_PROCESS = """
import json, sys
import torch
from weightaug import dist
from weightaug.inr.store import INRDataset
from weightaug.train import Splits, TrainConfig, train
from weightaug.train.tasks import inr_task

dataset, out, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]) or None
ds = INRDataset(dataset)
torch.manual_seed(0)
splits = Splits(ds.split("train"), ds.split("val"), ds.split("test"))
task = inr_task("dwsnet:hidden=8:n_layers=2", splits, len(ds.classes))
cfg = TrainConfig(epochs=3, batch_size=7, lr=3e-3, seed=0)  # 24 INRs: batches of 7, 7, 7, 3, split over ranks
result = train(task, cfg, out + "/checkpoint.pt", stop_after=stop, ddp=True)
if dist.is_main():
    json.dump(result.to_dict(), open(out + "/result.json", "w"))
"""


def test_ddp_training_equals_one_process_and_resumes_under_another_world_size(tmp_path, small_dataset):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_PROCESS)

    def run(launcher: list[str], out: str, stop: int = 0) -> list[dict]:
        (tmp_path / out).mkdir(exist_ok=True)
        r = subprocess.run([*launcher, str(script), str(small_dataset), str(tmp_path / out), str(stop)], env=ENV,
                           capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads((tmp_path / out / "result.json").read_text())["history"] if not stop else []

    one, two = run([sys.executable], "one"), run(TORCHRUN, "two")
    run(TORCHRUN, "resumed", stop=1)  # 2 ranks train epoch 0 and stop; 1 process resumes from their checkpoint
    resumed = run([sys.executable], "resumed")
    for history in (two, resumed):  # no augmentation draws anything: the same steps, to float rounding
        assert len(history) == 3
        for a, b in zip(one, history, strict=True):
            for key in ("step_loss", "train_loss", "val_loss", "test_loss", "val_acc", "test_acc"):
                assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(a[key])), (key, a, b)
