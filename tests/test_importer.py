import json

import pytest
import torch

from conftest import random_batch
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
