import json

import pytest
import torch

from conftest import CreatesAFile, random_batch
from weightaug.inr.importer import import_peer_dataset
from weightaug.inr.store import INRDataset
from weightaug.weights import NetworkSpec

SPEC = NetworkSpec(hidden=(32, 32), output_offset=0.5)


def write_peer_dataset(root, views: int):
    """Files as the peers publish them: torch.save'd SIREN state_dicts with a 'label', plus a splits JSON."""
    wb = random_batch(SPEC, 30, seed=5)
    splits = {"train": [], "val": [], "test": []}
    expected = {}
    k = 0
    for split, n_objects in (("train", 4), ("val", 2), ("test", 3)):
        for obj in range(n_objects):
            for view in range(views if split == "train" else 1):
                rel = f"data/{view}/{split}_{obj}/net.pth" if views > 1 else f"data/{split}/{obj}.pth"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                sd = wb.state_dict(k)
                torch.save({**sd, "label": torch.tensor(obj % 10)}, path)
                splits[split].append(rel)
                expected[(split, obj, view)] = (k, obj % 10)
                k += 1
    (root / "data" / "splits.json").write_text(json.dumps(splits))
    return wb, expected


def test_import_flat_layout(tmp_path):
    wb, expected = write_peer_dataset(tmp_path, views=1)
    ds = INRDataset(import_peer_dataset(tmp_path / "data" / "splits.json", tmp_path / "out"))
    assert ds.spec == SPEC
    test = ds.split("test")
    assert len(test) == 3
    for i in range(3):
        k, label = expected[("test", i, 0)]
        assert test.weights[i].equal(wb[k]) and test.labels[i] == label


def test_import_multiview_groups_views_by_object(tmp_path):
    wb, expected = write_peer_dataset(tmp_path, views=3)
    ds = INRDataset(
        import_peer_dataset(tmp_path / "data" / "splits.json", tmp_path / "out", multiview=True, shard_size=5)
    )
    train = ds.split("train")
    assert len(train) == 12 and ds.manifest["splits"]["train"]["views"] == 3
    assert len(train.first_views(1)) == 4
    for obj in range(4):
        rows = (train.object_ids == train.object_ids.unique()[obj]).nonzero().flatten()
        assert train.view_ids[rows].tolist() == [0, 1, 2]
        for row, view in zip(rows.tolist(), range(3)):
            assert train.weights[row].equal(wb[expected[("train", obj, view)][0]])
    x = torch.rand(10, 2)
    torch.testing.assert_close(train.weights[0](x)[0], wb[expected[("train", 0, 0)][0]].to_module(0)(x))


def test_import_errors(tmp_path):
    write_peer_dataset(tmp_path, views=1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": ["nowhere.pth"], "val": [], "test": []}))
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        import_peer_dataset(bad, tmp_path / "o1")
    bad.write_text(json.dumps({"train": ["x"]}))
    with pytest.raises(ValueError, match="lacks split"):
        import_peer_dataset(bad, tmp_path / "o2")
    (tmp_path / "o3").mkdir()
    (tmp_path / "o3" / "f").write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        import_peer_dataset(tmp_path / "data" / "splits.json", tmp_path / "o3")


def write_dwsnets_splits(files_root, author_root: str, label_in_file: bool):
    """The layout of DWSNets' own split script: {"split": {"path": [absolute paths of the authors' machine],
    "label": [...]}}, the files written under ``files_root`` (this machine), optionally without a label."""
    wb = random_batch(SPEC, 12, seed=7)
    splits, k = {}, 0
    for split, n in (("train", 6), ("val", 3), ("test", 3)):
        paths, labels = [], []
        for obj in range(n):
            rel = f"mnist-inrs/{split}/{obj % 3}/inr_{obj}.pth"
            (files_root / rel).parent.mkdir(parents=True, exist_ok=True)
            sd = wb.state_dict(k)
            torch.save({**sd, "label": obj % 3} if label_in_file else sd, files_root / rel)
            paths.append(f"{author_root}/{rel}")
            labels.append(obj % 3)
            k += 1
        splits[split] = {"path": paths, "label": labels}
    path = files_root / "mnist_splits.json"
    path.write_text(json.dumps(splits))
    return path, wb


def test_imported_dataset_trains_evaluates_renders_and_runs_an_experiment(tmp_path):
    from click.testing import CliRunner

    from weightaug.cli import main

    splits, _ = write_dwsnets_splits(tmp_path / "here" / "dataset", "/home/author/dwsnets/dataset", False)
    runner, ds = CliRunner(), tmp_path / "imported"
    r = runner.invoke(main, ["import", str(splits), "--out", str(ds), "--root", str(tmp_path / "here" / "dataset")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["info", str(ds)], terminal_width=200)
    assert r.exit_code == 0 and "/home/author/dwsnets/dataset ->" in r.output, r.output
    assert str((tmp_path / "here" / "dataset").resolve()) in r.output.replace("\n", "")
    r = runner.invoke(main, ["train", str(ds), "--epochs", "2", "--batch-size", "4", "--out", str(tmp_path / "t")])
    assert r.exit_code == 0, r.output
    assert "test" in r.output and (tmp_path / "t" / "results.json").is_file()
    r = runner.invoke(main, ["render", str(ds), "--out", str(tmp_path / "grid.png"), "-n", "2"])
    assert r.exit_code == 0 and (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG", r.output
    settings = ["epochs=1", "batch_size=4", "seeds=[0]", 'models=["dwsnet"]', "pixel_models=[]", f'dataset="{ds}"']
    settings += ['variants=["none", "siren_negation"]']
    args = ["experiment", "augmentations", "--out", str(tmp_path / "e"), *(f"--set={s}" for s in settings)]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert len(json.loads((tmp_path / "e" / "results.json").read_text())["runs"]) == 2
    r = runner.invoke(main, [*args[:-1], '--set=pixel_models=["pixel-mlp"]', "--out", str(tmp_path / "e2")])
    assert r.exit_code == 2 and "pixel_models=[]" in r.output


def test_labels_come_from_the_file_or_the_splits_json(tmp_path):
    splits, wb = write_dwsnets_splits(tmp_path, str(tmp_path), label_in_file=False)
    train = INRDataset(import_peer_dataset(splits, tmp_path / "a")).split("train")
    for i in range(len(train)):
        obj = next(k for k in range(6) if train.weights[i].equal(wb[k]))  # train object k is wb[k]
        assert train.labels[i] == obj % 3
    table = json.loads(splits.read_text())
    for entry in table.values():
        del entry["label"]
    splits.write_text(json.dumps(table))
    with pytest.raises(ValueError, match="no 'label' entry and the splits JSON gives no 'label' list"):
        import_peer_dataset(splits, tmp_path / "b")
    splits, _ = write_dwsnets_splits(tmp_path / "c", str(tmp_path / "c"), label_in_file=True)
    table = json.loads(splits.read_text())
    table["val"]["label"][1] = 2
    splits.write_text(json.dumps(table))
    with pytest.raises(ValueError, match=r"inr_1.pth holds label 1 but the splits JSON says 2"):
        import_peer_dataset(splits, tmp_path / "d")


def test_absolute_paths_of_another_machine_are_rerooted(tmp_path):
    splits, wb = write_dwsnets_splits(tmp_path / "local", "/mnt/lab/someone/data", label_in_file=True)
    out = import_peer_dataset(splits, tmp_path / "out")  # found next to the splits file, no --root needed
    ds = INRDataset(out)
    assert ds.manifest["source"]["roots"] == {"/mnt/lab/someone/data": str((tmp_path / "local").resolve())}
    train = ds.split("train")
    assert sorted(next(k for k in range(12) if train.weights[i].equal(wb[k])) for i in range(6)) == list(range(6))
    with pytest.raises(FileNotFoundError, match="pass --root"):
        import_peer_dataset(splits, tmp_path / "o2", root=tmp_path / "elsewhere")


def test_a_failed_import_leaves_the_existing_dataset_as_it_was(tmp_path):
    from click.testing import CliRunner

    from weightaug.cli import main

    splits, _ = write_dwsnets_splits(tmp_path, str(tmp_path), label_in_file=True)
    out = import_peer_dataset(splits, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "mnist-inrs" / "test" / "2" / "inr_2.pth"
    cases = {
        "text": (lambda p: p.write_text("not a torch file"), "is not a torch file"),
        "tensor": (lambda p: torch.save(torch.zeros(3), p), "holds a Tensor, not a state_dict"),
        "shapes": (
            lambda p: torch.save({**random_batch(NetworkSpec(hidden=(8, 8)), 1).state_dict(0), "label": 2}, p),
            "does not match the spec",
        ),
        "pickle": (lambda p: torch.save({"label": CreatesAFile(tmp_path / "pwned")}, p), "was refused"),
    }
    for name, (write, message) in cases.items():
        write(broken)
        r = CliRunner().invoke(main, ["import", str(splits), "--out", str(out), "--overwrite"])
        assert r.exit_code == 2, (name, r.output)
        lines = [line for line in r.output.splitlines() if line.strip()]
        assert "inr_2.pth" in r.output and message in r.output and len(lines[-1]) > 0, (name, r.output)
        assert sum(line.startswith("error:") for line in lines) == 1 and "Traceback" not in r.output
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before, name
        assert not list(tmp_path.glob(".out.*")), name  # no half-built sibling left behind
    assert not (tmp_path / "pwned").exists()
