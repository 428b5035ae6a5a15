import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from weightaug.cli import main
from weightaug.tracking import check, markdown_tables, open_tracker

pytest.importorskip("tensorboard", reason="tensorboard not installed (pip install 'weightaug[tensorboard]')")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def logged(folder) -> dict[str, dict[int, list[float]]]:
    """Every scalar a TensorBoard folder holds: tag -> step -> the values written at that step."""
    events = EventAccumulator(str(folder))
    events.Reload()
    out = {}
    for tag in events.Tags()["scalars"]:
        for e in events.Scalars(tag):
            out.setdefault(tag, {}).setdefault(e.step, []).append(e.value)
    return out


def test_a_killed_run_resumed_continues_the_same_tensorboard_log(tmp_path, small_dataset):
    """Kill `weightaug train --log tensorboard` mid-run, rerun it: one log with every epoch, as results.json says."""
    out = tmp_path / "run"
    args = [str(small_dataset), "--epochs", "30", "--batch-size", "4", "--out", str(out), "--log", "tensorboard"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "weightaug", "train", *args], env=env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").is_file() and run.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert not (out / "results.json").exists(), "the run ended before it was killed: make it longer"
    r = CliRunner().invoke(main, ["train", *args])
    assert r.exit_code == 0, r.output
    history = json.loads((out / "results.json").read_text())["history"]
    folders = list((out / "tensorboard").iterdir())
    assert len(folders) == 1  # one run, one log
    scalars = logged(folders[0])
    assert sorted(scalars["val_acc"]) == list(range(30))
    for epoch in history:
        for tag in ("val_acc", "test_acc", "step_loss"):
            assert all(abs(v - epoch[tag]) < 1e-6 for v in scalars[tag][epoch["epoch"]])  # a repeat: same values


def test_an_experiment_logs_each_run_and_its_table(tmp_path, small_dataset):
    out = tmp_path / "e"
    settings = ["epochs=2", "batch_size=8", "seeds=[0, 1]", 'models=["dwsnet"]', "pixel_models=[]"]
    settings += [f'dataset="{small_dataset}"', 'variants=["none"]']
    args = ["experiment", "augmentations", "--out", str(out), "--log", "tensorboard", *(f"--set={s}" for s in settings)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    runs = json.loads((out / "results.json").read_text())["runs"]
    folders = sorted(p.name for p in (out / "tensorboard").iterdir())
    assert len(folders) == len(runs) + 1 and "table" in folders
    for folder in folders:
        if folder != "table":
            assert sorted(logged(out / "tensorboard" / folder)["val_acc"]) == [0, 1]
    table = EventAccumulator(str(out / "tensorboard" / "table"))
    table.Reload()
    assert table.Tags()["tensors"]  # the table, as text


def test_wandb_logs_offline_and_a_rerun_keeps_the_run_id(tmp_path, small_dataset, monkeypatch):
    pytest.importorskip("wandb", reason="wandb not installed (pip install 'weightaug[wandb]')")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline by default: no network
    out = tmp_path / "run"
    args = ["train", str(small_dataset), "--epochs", "2", "--batch-size", "8", "--out", str(out), "--log", "wandb"]
    for _ in range(2):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    runs = sorted((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and len({p.name.rsplit("-", 1)[1] for p in runs}) == 1  # the same run id
    data = next(runs[0].glob("run-*.wandb")).read_bytes()
    assert b"val_acc" in data and b"dwsnet" in data  # the metrics and the config


def test_tables_parse_and_unknown_or_missing_trackers_are_refused(tmp_path, monkeypatch):
    text = "### t\n\n| | a | b |\n|---|---|---|\n| x | 1 | 2 |\n\nnote\n\n| c |\n|---|\n| 3 |\n"
    assert markdown_tables(text) == [(["", "a", "b"], [["x", "1", "2"]]), (["c"], [["3"]])]
    with pytest.raises(ValueError, match="unknown tracker 'mlflow'"):
        open_tracker("mlflow", tmp_path, "run", {})
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install 'weightaug\[wandb\]'"):
        check("wandb")
    open_tracker("none", tmp_path, "run", {}).close()
    assert not list(tmp_path.iterdir())  # "none" writes nothing


def test_shadow_weight_training_logs_its_epochs_and_result(tmp_path):
    out = tmp_path / "was"
    args = ["was", "train", "--data", "digits", "--epochs", "2", "--train-size", "200", "--val-size", "100"]
    r = CliRunner().invoke(main, [*args, "--log", "tensorboard", "--out", str(out)])
    assert r.exit_code == 0, r.output
    (folder,) = (out / "tensorboard").iterdir()
    scalars = logged(folder)
    assert sorted(scalars["val_acc"]) == [0, 1] and "dom_flops_ratio" in scalars
