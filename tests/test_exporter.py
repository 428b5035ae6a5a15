import json

import pytest
import torch
from click.testing import CliRunner

from conftest import random_batch
from weightaug.cli import main
from weightaug.inr.exporter import export_dataset
from weightaug.inr.fit import coordinate_grid
from weightaug.inr.importer import import_peer_dataset
from weightaug.inr.store import INRDataset
from weightaug.weights import NetworkSpec


def ordered(part):
    """A split's INRs in (object, view) order, so two copies of one dataset compare entry by entry."""
    return part[torch.argsort(part.object_ids * 100 + part.view_ids)]


def peer_forward(state_dict: dict, coords: torch.Tensor) -> torch.Tensor:
    """The peers' SIREN as they define it: sin(30 (W x + b)) hidden layers, a linear last layer, plus 0.5."""
    layers = [(state_dict[f"seq.{k}.weight"], state_dict[f"seq.{k}.bias"]) for k in range(len(state_dict) // 2)]
    x = coords
    for w, b in layers[:-1]:
        x = torch.sin(30.0 * (x @ w.T + b))
    return x @ layers[-1][0].T + layers[-1][1] + 0.5


def test_export_then_import_holds_the_same_weights_and_labels_bit_for_bit(tmp_path, small_dataset):
    runner = CliRunner()
    r = runner.invoke(main, ["export", str(small_dataset), "--out", str(tmp_path / "peer")])
    assert r.exit_code == 0, r.output
    splits = json.loads((tmp_path / "peer" / "splits.json").read_text())
    assert all(p.startswith("peer/") and p.count("/") == 3 for p in splits["train"]["path"])  # peer/<view>/<split>/
    r = runner.invoke(main, ["import", str(tmp_path / "peer" / "splits.json"), "--out", str(tmp_path / "back"),
                             "--multiview"])  # fmt: skip
    assert r.exit_code == 0, r.output
    original, back = INRDataset(small_dataset), INRDataset(tmp_path / "back")
    assert back.spec == original.spec
    for split in original.splits:
        a, b = ordered(original.split(split)), ordered(back.split(split))
        assert a.weights.equal(b.weights) and torch.equal(a.labels, b.labels)
        assert torch.equal(a.view_ids, b.view_ids)
        assert len(a.object_ids.unique()) == len(b.object_ids.unique())


def test_exported_files_load_weights_only_and_compute_the_same_images_under_the_peers_inr(tmp_path):
    spec = NetworkSpec(hidden=(8, 8), output_offset=0.0)  # not the peers' 0.5: folded into the last bias
    wb = random_batch(spec, 9, seed=4)
    files = {"train": [], "val": [], "test": []}
    for k, split in enumerate(["train"] * 5 + ["val"] * 2 + ["test"] * 2):
        torch.save({**wb.state_dict(k), "label": k % 3}, tmp_path / f"{k}.pth")
        files[split].append(f"{k}.pth")
    (tmp_path / "splits.json").write_text(json.dumps(files))
    ds = import_peer_dataset(tmp_path / "splits.json", tmp_path / "ds", root=str(tmp_path), output_offset=0.0)
    out = export_dataset(ds, tmp_path / "peer")
    splits = json.loads((out / "splits.json").read_text())
    coords = coordinate_grid(7, 7)
    for split in ("train", "val", "test"):
        part = INRDataset(ds).split(split)
        ours = part.weights(coords)
        for k, path in enumerate(splits[split]["path"]):
            state_dict = torch.load(tmp_path / path, weights_only=True)
            assert state_dict.pop("label") == int(part.labels[k]) == splits[split]["label"][k]
            torch.testing.assert_close(peer_forward(state_dict, coords), ours[k], rtol=0, atol=1e-6)
    stats = torch.load(out / "statistics.pth", weights_only=True)
    train = INRDataset(ds).split("train").weights
    assert [tuple(m.shape) for m in stats["weights"]["mean"]] == [(i, o, 1) for o, i in spec.weight_shapes]
    torch.testing.assert_close(stats["weights"]["std"][1].squeeze(-1), train.weights[1].std(0).T)
    torch.testing.assert_close(stats["biases"]["mean"][0].squeeze(-1), train.biases[0].mean(0))
    torch.testing.assert_close(stats["biases"]["mean"][-1].squeeze(-1), train.biases[-1].mean(0) - 0.5)


def test_export_refuses_what_the_peers_cannot_read_and_keeps_what_is_there(tmp_path, small_dataset):
    (tmp_path / "peer").mkdir()
    (tmp_path / "peer" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_dataset(small_dataset, tmp_path / "peer")
    with pytest.raises(ValueError, match="unknown export format 'nfn'"):
        export_dataset(small_dataset, tmp_path / "peer", format="nfn", overwrite=True)
    assert (tmp_path / "peer" / "mine.txt").read_text() == "keep"
    export_dataset(small_dataset, tmp_path / "peer", overwrite=True)
    assert not (tmp_path / "peer" / "mine.txt").exists() and (tmp_path / "peer" / "splits.json").is_file()
    r = CliRunner().invoke(main, ["export", str(small_dataset), "--out", str(tmp_path / "x"), "--format", "nfn"])
    assert r.exit_code == 2 and "dwsnets" in r.output
