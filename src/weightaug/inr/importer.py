"""Import the INR datasets the peers published (DWSNets, the official augmentation code).

Their format: a splits JSON ``{"train": [path, ...], "val": [...], "test": [...]}`` (or per split
``{"path": [...], "label": [...]}``), paths relative to the data folder's parent, each file a ``torch.save``'d
SIREN state_dict (``seq.0.weight``, ``seq.0.bias``, ... in layer order) with an int ``label`` entry. In
multiview data the view is the third path component from the end (``.../<view>/<folder>/<file>``).
Files are read with ``torch.load(weights_only=True)``: import only data you trust.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import torch

from weightaug.inr.store import FORMAT, SPLITS, VERSION, INRSplit, write_manifest, write_shard
from weightaug.weights import NetworkSpec, WeightBatch, linear_layers


def _split_paths(entry: list | dict, split: str, splits_file: Path) -> list[str]:
    paths = entry.get("path") if isinstance(entry, dict) else entry
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"{splits_file}: split {split!r} must be a list of paths or {{'path': [...]}}")
    return paths


def _resolve(path: str, splits_file: Path, root: Path | None) -> Path:
    p = Path(path)
    bases = [root] if root is not None else [Path.cwd(), splits_file.parent, splits_file.parent.parent]
    candidates = [p] if p.is_absolute() else [b / p for b in bases]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"INR file {path!r} from {splits_file} not found (looked at {', '.join(str(c) for c in candidates)}); pass --root to the folder its paths are relative to"
    )


def infer_spec(state_dict: dict, w0: float, output_offset: float) -> NetworkSpec:
    """The MLP spec of a SIREN state_dict, from its layer shapes."""
    layers = linear_layers(state_dict)
    if not layers:
        raise ValueError("state_dict has no '*.weight' / '*.bias' layers")
    widths = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
    return NetworkSpec(
        in_dim=widths[0], hidden=tuple(widths[1:-1]), out_dim=widths[-1], w0=w0, output_offset=output_offset
    )


def import_peer_dataset(
    splits_file: str | Path,
    out: str | Path,
    root: str | Path | None = None,
    multiview: bool = False,
    w0: float = 30.0,
    output_offset: float = 0.5,
    shard_size: int = 4096,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Convert a peer-format INR dataset into a weightaug dataset directory ``out``."""
    splits_file = Path(splits_file)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(out)
    splits = json.loads(splits_file.read_text())
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        raise ValueError(f"{splits_file} lacks split(s) {missing}; it must hold train, val and test")
    root = Path(root) if root is not None else None
    spec = None
    parts: dict[str, INRSplit] = {}
    next_object = 0
    for split in SPLITS:
        paths = _split_paths(splits[split], split, splits_file)
        if not paths:
            raise ValueError(f"{splits_file}: split {split!r} is empty")
        keys, views, state_dicts, labels = [], [], [], []
        for path in paths:
            sd = torch.load(_resolve(path, splits_file, root), map_location="cpu", weights_only=True)
            if "label" not in sd:
                raise ValueError(f"{path} has no 'label' entry; peer INR files store the class as sd['label']")
            labels.append(int(sd.pop("label")))
            spec = spec or infer_spec(sd, w0, output_offset)
            state_dicts.append(sd)
            parts_of_path = PurePosixPath(path).parts
            if multiview:
                if len(parts_of_path) < 3:
                    raise ValueError(f"multiview path {path!r} needs .../<view>/<folder>/<file>")
                views.append(parts_of_path[-3])
                keys.append("/".join(parts_of_path[:-3] + parts_of_path[-2:]))
            else:
                views.append("")
                keys.append(path)
            if progress is not None:
                progress(1)
        view_names = sorted(set(views))
        object_keys = sorted(set(keys))
        key_index = {k: i for i, k in enumerate(object_keys)}
        object_ids = torch.tensor([next_object + key_index[k] for k in keys])
        next_object += len(object_keys)
        view_ids = torch.tensor([view_names.index(v) for v in views])
        order = torch.argsort(object_ids * len(view_names) + view_ids)
        weights = WeightBatch.from_state_dicts(spec, state_dicts)
        part = INRSplit(weights, torch.tensor(labels), object_ids, view_ids, torch.full((len(paths),), float("nan")))
        parts[split] = part[order]
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.to_dict(),
        "fit": None,
        "source": {"name": "imported", "from": str(splits_file.resolve()), "multiview": multiview},
        "splits": {
            s: {"objects": int(p.object_ids.unique().numel()), "views": int(p.view_ids.max()) + 1, "input_views": 0}
            for s, p in parts.items()
        },
        "shard_size": shard_size,
        "shards": [],
        "complete": False,
    }
    for split, part in parts.items():
        for k, lo in enumerate(range(0, len(part), shard_size)):
            chunk = part[slice(lo, lo + shard_size)]
            name = f"{split}-{k:05d}.safetensors"
            manifest["shards"].append(
                {
                    "file": name,
                    "split": split,
                    "start": lo,
                    "count": len(chunk),
                    "sha256": write_shard(out, name, chunk),
                }
            )
    manifest["n_shards"] = len(manifest["shards"])
    manifest["complete"] = True
    write_manifest(out, manifest)
    return out
