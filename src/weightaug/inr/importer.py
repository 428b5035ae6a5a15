"""Import the INR datasets the peers published (DWSNets, the official augmentation code).

Their format: a splits JSON ``{"train": [path, ...], "val": [...], "test": [...]}``, or per split
``{"path": [...], "label": [...]}`` (DWSNets' ``generate_data_splits.py``), paths relative to the data folder's
parent or absolute paths of the authors' machine, each file a ``torch.save``'d SIREN state_dict (``seq.0.weight``,
``seq.0.bias``, ... in layer order), usually with an int ``label`` entry. In multiview data the view is the third
path component from the end (``.../<view>/<folder>/<file>``). Files are read with ``torch.load(weights_only=True)``
(:func:`weightaug.io.load_torch_file`), which refuses pickles that would run code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path, PurePath, PurePosixPath
from typing import Annotated

import torch

from weightaug.inr.store import SPLITS, INRSplit, write_dataset
from weightaug.io import UnreadableFileError, load_torch_file, remove, staging_path, swap_in
from weightaug.weights import NetworkSpec, SpecMismatchError, WeightBatch, linear_layers


class ImportFormatError(ValueError):
    """A file or splits JSON that is not in the peers' format."""


def _split_entry(entry: list | dict, split: str, splits_file: Path) -> tuple[list[str], list[int] | None]:
    """The paths of a split and, where the JSON gives them, their labels."""
    paths = entry.get("path") if isinstance(entry, dict) else entry
    labels = entry.get("label") if isinstance(entry, dict) else None
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ImportFormatError(f"{splits_file}: split {split!r} must be a list of paths or {{'path': [...]}}")
    if labels is not None and (len(labels) != len(paths) or not all(isinstance(x, int) for x in labels)):
        raise ImportFormatError(
            f"{splits_file}: split {split!r} has {len(paths)} paths but its 'label' list is not {len(paths)} integers"
        )
    return paths, labels


class PathResolver:
    """Finds the INR files a splits JSON names, re-rooting absolute paths of another machine.

    A relative path is looked up under ``root`` (or the working folder, the JSON's folder and its parent). An
    absolute path that does not exist is re-rooted by its longest suffix that exists under those folders; the
    first such mapping (the authors' prefix -> a local folder) is tried first for every later path.
    """

    def __init__(self, splits_file: Path, root: Path | None) -> None:
        self.splits_file = splits_file
        self.bases = [root] if root is not None else [Path.cwd(), splits_file.parent, splits_file.parent.parent]
        self.mappings: dict[PurePath, Path] = {}  # stripped prefix -> local base

    def __call__(self, path: str) -> Path:
        p = Path(path)
        if not p.is_absolute():
            for base in self.bases:
                if (base / p).is_file():
                    return base / p
        elif p.is_file():
            return p
        else:
            for prefix, base in self.mappings.items():
                if p.is_relative_to(prefix) and (base / p.relative_to(prefix)).is_file():
                    return base / p.relative_to(prefix)
            parts = p.parts
            for k in range(1, len(parts)):  # the longest suffix first
                for base in self.bases:
                    if (base / Path(*parts[k:])).is_file():
                        self.mappings[PurePath(*parts[:k])] = base
                        return base / Path(*parts[k:])
        looked = ", ".join(str(b) for b in self.bases)
        raise FileNotFoundError(
            f"INR file {path!r} from {self.splits_file} not found (looked under {looked}); "
            "pass --root to the folder its paths are relative to (absolute paths are re-rooted under it)"
        )


def load_peer_file(path: Path) -> dict:
    """One peer INR file as a dict (read with ``weights_only=True``), or an :class:`ImportFormatError` naming it."""
    try:
        obj = load_torch_file(path)
    except UnreadableFileError as err:
        raise ImportFormatError(f"{err}; import only files of tensors (torch.save'd state_dicts)") from err
    if not isinstance(obj, dict):
        raise ImportFormatError(
            f"{path} holds a {type(obj).__name__}, not a state_dict (a dict of 'seq.N.weight' / 'seq.N.bias' tensors)"
        )
    return obj


def infer_spec(state_dict: dict, w0: float, output_offset: float) -> NetworkSpec:
    """The MLP spec of a SIREN state_dict, from its layer shapes."""
    layers = linear_layers(state_dict)
    if not layers:
        raise ValueError("state_dict has no '*.weight' / '*.bias' layers")
    widths = [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers]
    return NetworkSpec(
        in_dim=widths[0], hidden=tuple(widths[1:-1]), out_dim=widths[-1], w0=w0, output_offset=output_offset
    )


def _label(sd: dict, from_json: int | None, path: Path) -> int:
    in_file = sd.pop("label", None)
    if in_file is not None:
        try:
            in_file = int(in_file)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ImportFormatError(f"{path}: its 'label' entry is not an integer") from err
    if in_file is None and from_json is None:
        raise ImportFormatError(
            f"{path} has no 'label' entry and the splits JSON gives no 'label' list; one of them must hold the class"
        )
    if in_file is not None and from_json is not None and in_file != from_json:
        raise ImportFormatError(f"{path} holds label {in_file} but the splits JSON says {from_json}")
    return in_file if in_file is not None else from_json


def import_peer_dataset(
    splits_file: str | Path,
    out: str | Path,
    root: Annotated[
        str | None,
        "Folder the JSON's paths are relative to, and under which absolute paths of "
        "another machine are re-rooted (default: the working folder, the JSON's folder, its parent).",
    ] = None,
    multiview: Annotated[bool, "Paths are .../<view>/<folder>/<file> (the official multiview data)."] = False,
    w0: Annotated[float, "SIREN frequency factor of the INRs."] = 30.0,
    output_offset: Annotated[float, "Constant the INRs add to their output (the peers': 0.5)."] = 0.5,
    image_size: Annotated[int, "Side of the images (MNIST 28, CIFAR 32)."] = 28,
    shard_size: int = 4096,
    overwrite: Annotated[bool, "Replace out (swapped in only when the import succeeded)."] = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Convert a peer-format INR dataset into a weightaug dataset directory ``out``.

    It is built in a hidden sibling folder and swapped in only when every file has been read, so a failed
    import (or ``overwrite`` of a dataset that then fails) leaves ``out`` as it was. ``image_size`` is the side
    of the images the INRs represent (28 for MNIST and Fashion-MNIST, 32 for CIFAR), for rendering.
    """
    splits_file, out = Path(splits_file), Path(out)
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")
    try:
        splits = json.loads(splits_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ImportFormatError(f"{splits_file} is not valid JSON ({err})") from err
    missing = [s for s in SPLITS if s not in splits] if isinstance(splits, dict) else list(SPLITS)
    if missing:
        raise ImportFormatError(f"{splits_file} lacks split(s) {missing}; it must hold train, val and test")
    resolve = PathResolver(splits_file, Path(root) if root is not None else None)
    spec, parts, next_object = None, {}, 0
    for split in SPLITS:
        paths, json_labels = _split_entry(splits[split], split, splits_file)
        if not paths:
            raise ImportFormatError(f"{splits_file}: split {split!r} is empty")
        keys, views, networks, labels = [], [], [], []
        for n, path in enumerate(paths):
            file = resolve(path)
            sd = load_peer_file(file)
            labels.append(_label(sd, None if json_labels is None else json_labels[n], file))
            try:
                spec = spec or infer_spec(sd, w0, output_offset)
                networks.append(WeightBatch.from_state_dicts(spec, [sd]))
            except SpecMismatchError as err:
                raise ImportFormatError(
                    f"{file} does not match the spec {spec.widths} of the first file: {err}"
                ) from err
            except ValueError as err:
                raise ImportFormatError(f"{file}: {err}") from err
            parts_of_path = PurePosixPath(path).parts
            if multiview:
                if len(parts_of_path) < 3:
                    raise ImportFormatError(f"multiview path {path!r} needs .../<view>/<folder>/<file>")
                views.append(parts_of_path[-3])
                keys.append("/".join(parts_of_path[:-3] + parts_of_path[-2:]))
            else:
                views.append("")
                keys.append(path)
            if progress is not None:
                progress(1)
        view_names = sorted(set(views))
        key_index = {k: i for i, k in enumerate(sorted(set(keys)))}
        object_ids = torch.tensor([next_object + key_index[k] for k in keys])
        next_object += len(key_index)
        view_ids = torch.tensor([view_names.index(v) for v in views])
        order = torch.argsort(object_ids * len(view_names) + view_ids)
        nan = torch.full((len(paths),), float("nan"))
        part = INRSplit(WeightBatch.cat(networks), torch.tensor(labels), object_ids, view_ids, nan)
        parts[split] = part[order]
    n_classes = int(max(int(p.labels.max()) for p in parts.values())) + 1
    source = {
        "name": "imported",
        "from": str(splits_file.resolve()),
        "multiview": multiview,
        "classes": [str(c) for c in range(n_classes)],
        "image_shape": [spec.out_dim, image_size, image_size],
        "roots": {str(prefix): str(base.resolve()) for prefix, base in resolve.mappings.items()},
    }
    staged = staging_path(out)
    remove(staged)
    try:
        staged.mkdir(parents=True)
        write_dataset(staged, spec, source, parts, shard_size)
        swap_in(staged, out)
    finally:
        remove(staged)
    return out
