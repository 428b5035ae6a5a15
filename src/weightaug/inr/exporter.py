"""Export an INR dataset to the peers' format (DWSNets, the official augmentation code), for their trainers.

The layout their loaders read, and :func:`weightaug.inr.importer.import_peer_dataset` reads back:

- one ``torch.save``'d state_dict per INR, ``seq.0.weight``, ``seq.0.bias``, ... in layer order, with an int
  ``label`` entry, at ``OUT/<split>/<object>.pth``; with several views ``OUT/<view>/<split>/<object>.pth``
  (the view the third path component from the end);
- ``OUT/splits.json``: ``{"train": {"path": [...], "label": [...]}, "val": ..., "test": ...}``, paths relative
  to OUT's parent (DWSNets' ``generate_data_splits.py`` layout);
- ``OUT/statistics.pth``: the training split's per-position mean and std (unbiased) of every weight, shaped as
  their loaders hold them: weights ``(n_in, n_out, 1)``, biases ``(n_out, 1)`` (DWSNets' ``compute_statistics``).

Their SIRENs add 0.5 to the output; a dataset with another ``output_offset`` has the difference folded into the
last bias, so each file computes the same image under their INR class (bit for bit the same weights where the
offset is already 0.5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import torch

from weightaug.inr.store import INRDataset
from weightaug.io import remove, staging_path, swap_in
from weightaug.weights import WeightBatch

FORMATS = {"dwsnets": "DWSNets and the official augmentation code: state_dict files, splits JSON, statistics"}
PEER_OFFSET = 0.5  # what the peers' SIRENs add to their output
PEER_W0 = 30.0


def peer_weights(weights: WeightBatch) -> WeightBatch:
    """The same functions with the peers' output offset: the difference moved into the last bias."""
    shift = weights.spec.output_offset - PEER_OFFSET
    if shift == 0:
        return weights
    biases = (*weights.biases[:-1], weights.biases[-1] + shift)
    return WeightBatch(weights.spec, weights.weights, biases)


def statistics(weights: WeightBatch) -> dict:
    """The per-position mean and std of ``weights`` in the peers' layout (see the module docstring)."""
    ws = [w.transpose(1, 2).unsqueeze(-1) for w in weights.weights]
    bs = [b.unsqueeze(-1) for b in weights.biases]
    return {
        "weights": {"mean": [w.mean(0) for w in ws], "std": [w.std(0) for w in ws]},
        "biases": {"mean": [b.mean(0) for b in bs], "std": [b.std(0) for b in bs]},
    }


def export_dataset(
    dataset: str | Path,
    out: str | Path,
    format: Annotated[str, FORMATS] = "dwsnets",
    overwrite: Annotated[bool, "Replace out (swapped in only when the export succeeded)."] = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``dataset`` (a weightaug INR dataset folder) to ``out`` in the peers' ``format``.

    Built in a hidden sibling folder and swapped in whole, so a failed export leaves ``out`` as it was.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose from: {', '.join(FORMATS)}")
    ds, out = INRDataset(dataset), Path(out)
    spec = ds.spec
    if spec.activation != "sine" or spec.w0 != PEER_W0:
        raise ValueError(
            f"{ds.root} holds {spec.activation} networks with w0={spec.w0}; the peers' INRs are SIRENs with "
            f"w0={PEER_W0:g}, so their trainers would compute other functions: export only such datasets"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")
    several_views = max(ds.manifest["splits"][s]["views"] for s in ds.splits) > 1
    width = max(6, len(str(max(int(ds.column(s, "object_ids").max()) for s in ds.splits))))
    staged = staging_path(out)
    remove(staged)
    try:
        staged.mkdir(parents=True)
        splits = {}
        for split in ds.splits:
            part = ds.split(split)
            weights = peer_weights(part.weights)
            if split == "train":
                torch.save(statistics(weights), staged / "statistics.pth")
            folders = [f"{v}/{split}" for v in part.view_ids.unique().tolist()] if several_views else [split]
            for folder in folders:
                (staged / folder).mkdir(parents=True)
            paths = []
            for k in range(len(part)):
                name = f"{split}/{int(part.object_ids[k]):0{width}d}.pth"
                rel = f"{int(part.view_ids[k])}/{name}" if several_views else name
                torch.save({**weights.state_dict(k), "label": int(part.labels[k])}, staged / rel)
                paths.append(f"{out.name}/{rel}")
                if progress is not None:
                    progress(1)
            splits[split] = {"path": paths, "label": part.labels.tolist()}
        (staged / "splits.json").write_text(json.dumps(splits) + "\n")
        swap_in(staged, out)
    finally:
        remove(staged)
    return out
