"""Several processes under torchrun (2 gloo ranks on the CPU): the fit shares its shards out and equals a
single-process fit byte for byte; a killed run resumes under another world size."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SMALL_FIT, SMALL_SPLITS, SPEC
from weightaug.inr.build import build_dataset

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

def stall(n, psnr):  # rank 0 hangs while fitting its second shard, after writing its first
    if os.environ["RANK"] == "0" and psnr.numel() and (Path({root!r}) / "train-00000.safetensors").exists():
        time.sleep(600)

build_dataset({root!r}, load_source("digits"), SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=stall)
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
    listed = [e["file"] for e in json.loads((root / "manifest.json").read_text())["shards"]]
    assert listed == ["train-00000.safetensors"]  # rank 0's first; its second died with it
    fitted = []
    build_dataset(root, digits, SPEC, SMALL_FIT, SMALL_SPLITS, shard_size=10, progress=lambda n, q: fitted.append(n))
    assert fitted[0] == 25 and sum(fitted) == 35  # three shards' INRs kept, the other two fitted
    assert shard_bytes(root) == shard_bytes(small_dataset) and not list(root.glob(".*"))
