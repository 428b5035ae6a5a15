"""The on-disk INR dataset: ``manifest.json`` plus safetensors shards, written atomically.

A shard holds, for ``count`` INRs of one split: ``layer{l}.weight`` (n, n_out, n_in), ``layer{l}.bias``
(n, n_out), ``labels``, ``object_ids``, ``view_ids`` (int64) and the fit's quality (float32, NaN where
unknown) under the name the manifest's ``quality`` gives (:data:`QUALITIES`; ``psnr`` when it gives none).
The manifest lists every finished shard with its sha256; a shard file the manifest does not list is
unfinished work and is rewritten on resume.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from weightaug import dist
from weightaug.io import atomic_save, atomic_write_bytes, sha256
from weightaug.weights import NetworkSpec, WeightBatch

FORMAT = "weightaug-inr-dataset"
VERSION = 1
SPLITS = ("train", "val", "test")
QUALITIES = {"psnr": "PSNR (dB) of an image INR", "iou": "IoU of an occupancy INR on held-out points"}
FIELDS = ("labels", "object_ids", "view_ids", "quality")


class DatasetError(ValueError):
    """A directory is not a usable weightaug INR dataset (missing, corrupt, or of another configuration)."""


def batch_indices(
    n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None, drop_last: bool = False
) -> list[Tensor]:
    """The rows of each mini-batch of an epoch over ``n`` items: a permutation drawn from ``generator``, cut."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    return list(order[:stop].split(batch_size))


@dataclass(frozen=True)
class INRSplit:
    """INRs of one split with their labels, object ids, view ids and fit quality (all indexed alike)."""

    weights: WeightBatch
    labels: Tensor
    object_ids: Tensor
    view_ids: Tensor
    quality: Tensor  # PSNR or IoU (:data:`QUALITIES`)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: Tensor | slice) -> INRSplit:
        return INRSplit(self.weights[index], *(getattr(self, f)[index] for f in FIELDS))

    def first_views(self, k: int) -> INRSplit:
        """Only views ``0 .. k-1`` of every object."""
        if k < 1:
            raise ValueError(f"views must be >= 1, got {k}")
        available = int(self.view_ids.max()) + 1 if len(self) else 0
        if k > available:
            raise ValueError(f"asked for {k} views but this split has {available}")
        return self[(self.view_ids < k).nonzero().flatten()]

    def batches(
        self, batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None, drop_last: bool = False
    ) -> Iterator[INRSplit]:
        """Mini-batches by tensor indexing (no per-item Python work)."""
        for index in batch_indices(len(self), batch_size, shuffle, generator, drop_last):
            yield self[index]

    def to(self, device: torch.device | str) -> INRSplit:
        return INRSplit(
            self.weights.to(device),
            *(getattr(self, f).to(device) for f in FIELDS),
        )

    @classmethod
    def cat(cls, parts: list[INRSplit]) -> INRSplit:
        return cls(
            WeightBatch.cat([p.weights for p in parts]),
            *(torch.cat([getattr(p, f) for p in parts]) for f in FIELDS),
        )


REBUILD = "rerun the `weightaug fit` (or `weightaug import`) command that made it, with --overwrite"


def write_manifest(root: Path, manifest: dict) -> None:
    atomic_write_bytes(root / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())


def read_manifest(root: Path) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise DatasetError(
            f"{root} is not a weightaug INR dataset: {path} does not exist (create one with `weightaug fit` or `weightaug import`)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} is not valid JSON ({e}); the dataset is corrupt: {REBUILD}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a weightaug INR dataset manifest; {REBUILD}")
    if manifest.get("version") != VERSION:
        raise DatasetError(
            f"{path} has format version {manifest.get('version')}, this weightaug reads version {VERSION}"
        )
    return manifest


def write_shard(root: Path, name: str, part: INRSplit, quality: str = "psnr") -> str:
    """Write a shard atomically, its quality under the name ``quality``; returns its sha256."""
    tensors = {
        "labels": part.labels,
        "object_ids": part.object_ids,
        "view_ids": part.view_ids,
        quality: part.quality.float(),
    }
    for layer, (w, b) in enumerate(zip(part.weights.weights, part.weights.biases)):
        tensors[f"layer{layer}.weight"] = w
        tensors[f"layer{layer}.bias"] = b
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    path = root / name
    atomic_save(path, lambda tmp: save_file(tensors, tmp))
    return sha256(path)


def _verified(root: Path, entry: dict, spec: NetworkSpec, quality: str) -> Path:
    """The path of a shard listed in the manifest, after checking that it exists, matches its sha256, and
    holds the tensors of ``entry['count']`` networks of ``spec`` (read from its header, no data loaded)."""
    path = root / entry["file"]
    if not path.is_file():
        raise DatasetError(
            f"shard {path} listed in the manifest is missing; rebuild with `weightaug fit` (it resumes) or --overwrite"
        )
    if sha256(path) != entry["sha256"]:
        raise DatasetError(
            f"shard {path} is corrupt or truncated (sha256 does not match the manifest); delete it and rerun `weightaug fit` to refit it"
        )
    n = entry["count"]
    wanted = {k: (n,) for k in ("labels", "object_ids", "view_ids", quality)}
    for layer, (o, i) in enumerate(spec.weight_shapes):
        wanted[f"layer{layer}.weight"], wanted[f"layer{layer}.bias"] = (n, o, i), (n, o)
    with safe_open(path, framework="pt") as f:
        held = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (not a dict)
    for key, shape in wanted.items():
        if key not in held:
            raise DatasetError(f"shard {path} lacks tensor {key!r}; {REBUILD}")
        if held[key] != shape:
            raise DatasetError(
                f"shard {path}: {key} is {held[key]}, but {n} INRs of the manifest's spec {spec.widths} need {shape}; "
                f"the manifest does not describe its shards: {REBUILD}"
            )
    extra = sorted(k for k in held if k.startswith("layer") and k not in wanted)
    if extra:
        raise DatasetError(
            f"shard {path} holds {', '.join(extra)} beyond the manifest's spec {spec.widths}; the manifest does not "
            f"describe its shards: {REBUILD}"
        )
    return path


def read_shard(path: Path, spec: NetworkSpec, quality: str = "psnr") -> INRSplit:
    """Read a shard that :func:`_verified` passed, checking its weights are finite."""
    t = load_file(path)
    weights = WeightBatch(
        spec,
        tuple(t[f"layer{i}.weight"] for i in range(spec.n_layers)),
        tuple(t[f"layer{i}.bias"] for i in range(spec.n_layers)),
    )
    bad = ~torch.isfinite(weights.flatten())
    if bad.any():
        raise DatasetError(
            f"shard {path} holds {int(bad.sum())} non-finite (NaN or Inf) weights in "
            f"{int(bad.any(1).sum())} of its {len(weights)} INRs; refit or re-import the INRs it came from"
        )
    return INRSplit(weights, t["labels"], t["object_ids"], t["view_ids"], t[quality])


class INRDataset:
    """A weightaug INR dataset directory, opened read-only."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        if not self.manifest.get("complete", False):
            raise DatasetError(
                f"{self.root} is unfinished ({self.n_shards_done} of {self.manifest['n_shards']} shards); rerun the same `weightaug fit` command to resume it"
            )
        self.spec = NetworkSpec.from_dict(self.manifest["spec"])
        self.quality = self.manifest.get("quality", "psnr")  # the name of the fit quality (:data:`QUALITIES`)
        self._checked: dict[str, Path] = {}  # shards whose hash and shapes were verified since opening

    def __len__(self) -> int:
        """INRs in all splits."""
        return sum(e["count"] for e in self.manifest["shards"])

    @property
    def n_shards_done(self) -> int:
        """Shards written so far: the manifest's, and those other ranks of a multi-rank fit recorded."""
        files = {e["file"] for e in self.manifest["shards"]}
        for record in dist.RankRecords(self.root, "shards").read():
            files |= {e["file"] for e in record}
        return len(files)

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if s in self.manifest["splits"]]

    @property
    def classes(self) -> list[str]:
        """The class names, in label order."""
        return self.manifest["source"]["classes"]

    def _shards(self, name: str) -> list[dict]:
        if name not in self.manifest["splits"]:
            raise DatasetError(f"{self.root} has no split {name!r}; it has {self.splits}")
        shards = [e for e in self.manifest["shards"] if e["split"] == name]
        if not shards:
            raise DatasetError(f"split {name!r} of {self.root} is empty")
        return shards

    def _path(self, entry: dict) -> Path:
        """A shard's path, verified (sha256, shapes) once per opened dataset, however many readers ask."""
        if entry["file"] not in self._checked:
            self._checked[entry["file"]] = _verified(self.root, entry, self.spec, self.quality)
        return self._checked[entry["file"]]

    def shard(self, entry: dict) -> INRSplit:
        """One shard of the manifest's list, verified."""
        return read_shard(self._path(entry), self.spec, self.quality)

    def split(self, name: str, views: int | None = None) -> INRSplit:
        """Load a split (every shard verified, its weights checked finite); ``views`` keeps the first views only."""
        data = INRSplit.cat([self.shard(e) for e in self._shards(name)])
        return data.first_views(views) if views is not None else data

    def column(self, name: str, field: str) -> Tensor:
        """One per-INR field (:data:`FIELDS`) of a split, without its weights."""
        key = self.quality if field == "quality" else field
        parts = []
        for entry in self._shards(name):
            with safe_open(self._path(entry), framework="pt") as f:
                parts.append(f.get_tensor(key))
        return torch.cat(parts)


def write_dataset(
    root: Path, spec: NetworkSpec, source: dict, parts: dict[str, INRSplit], shard_size: int = 4096
) -> None:
    """Write a complete dataset of in-memory ``parts`` (split -> INRs, quality NaN where unknown) into the
    empty folder ``root``: shards, then the manifest that lists them."""
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.to_dict(),
        "fit": None,
        "source": source,
        "splits": {
            s: {"objects": int(p.object_ids.unique().numel()), "views": int(p.view_ids.max()) + 1, "input_views": 0}
            for s, p in parts.items()
        },
        "shard_size": shard_size,
        "shards": [],
    }
    for split, part in parts.items():
        for k, lo in enumerate(range(0, len(part), shard_size)):
            chunk = part[slice(lo, lo + shard_size)]
            name = f"{split}-{k:05d}.safetensors"
            digest = write_shard(root, name, chunk)
            manifest["shards"].append(
                {"file": name, "split": split, "start": lo, "count": len(chunk), "sha256": digest}
            )
    manifest["n_shards"] = len(manifest["shards"])
    manifest["complete"] = True
    write_manifest(root, manifest)
