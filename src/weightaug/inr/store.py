"""The on-disk INR dataset: ``manifest.json`` plus safetensors shards, written atomically.

A shard holds, for ``count`` INRs of one split: ``layer{l}.weight`` (n, n_out, n_in), ``layer{l}.bias``
(n, n_out), ``labels``, ``object_ids``, ``view_ids`` (int64) and ``psnr`` (float32, NaN where unknown).
The manifest lists every finished shard with its sha256; a shard file the manifest does not list is
unfinished work and is rewritten on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from weightaug.weights import NetworkSpec, WeightBatch

FORMAT = "weightaug-inr-dataset"
VERSION = 1
SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """A directory is not a usable weightaug INR dataset (missing, corrupt, or of another configuration)."""


@dataclass(frozen=True)
class INRSplit:
    """INRs of one split with their labels, object ids, view ids and PSNR (all indexed alike)."""

    weights: WeightBatch
    labels: Tensor
    object_ids: Tensor
    view_ids: Tensor
    psnr: Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: Tensor | slice) -> INRSplit:
        return INRSplit(
            self.weights[index], self.labels[index], self.object_ids[index], self.view_ids[index], self.psnr[index]
        )

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
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for lo in range(0, stop, batch_size):
            yield self[order[lo : lo + batch_size]]

    def to(self, device: torch.device | str) -> INRSplit:
        return INRSplit(
            self.weights.to(device),
            *(getattr(self, f).to(device) for f in ("labels", "object_ids", "view_ids", "psnr")),
        )

    @classmethod
    def cat(cls, parts: list[INRSplit]) -> INRSplit:
        return cls(
            WeightBatch.cat([p.weights for p in parts]),
            *(torch.cat([getattr(p, f) for p in parts]) for f in ("labels", "object_ids", "view_ids", "psnr")),
        )


# -- atomic files ------------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{path} is not valid JSON ({e}); the dataset is corrupt: rebuild it with --overwrite"
        ) from e
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a weightaug INR dataset manifest (format {manifest.get('format')!r})")
    if manifest.get("version") != VERSION:
        raise DatasetError(
            f"{path} has format version {manifest.get('version')}, this weightaug reads version {VERSION}"
        )
    return manifest


def write_shard(root: Path, name: str, part: INRSplit) -> str:
    """Write a shard atomically; returns its sha256."""
    tensors = {
        "labels": part.labels,
        "object_ids": part.object_ids,
        "view_ids": part.view_ids,
        "psnr": part.psnr.float(),
    }
    for layer, (w, b) in enumerate(zip(part.weights.weights, part.weights.biases)):
        tensors[f"layer{layer}.weight"] = w
        tensors[f"layer{layer}.bias"] = b
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    path = root / name
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{name}.")
    os.close(fd)
    try:
        save_file(tensors, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return sha256(path)


def _verified(root: Path, entry: dict) -> Path:
    """The path of a shard listed in the manifest, after checking it exists and matches its sha256."""
    path = root / entry["file"]
    if not path.is_file():
        raise DatasetError(
            f"shard {path} listed in the manifest is missing; rebuild with `weightaug fit` (it resumes) or --overwrite"
        )
    if sha256(path) != entry["sha256"]:
        raise DatasetError(
            f"shard {path} is corrupt or truncated (sha256 does not match the manifest); delete it and rerun `weightaug fit` to refit it"
        )
    return path


def read_shard(root: Path, entry: dict, spec: NetworkSpec) -> INRSplit:
    """Read and verify one shard listed in the manifest."""
    path = _verified(root, entry)
    t = load_file(path)
    try:
        weights = WeightBatch(
            spec,
            tuple(t[f"layer{i}.weight"] for i in range(spec.n_layers)),
            tuple(t[f"layer{i}.bias"] for i in range(spec.n_layers)),
        )
        part = INRSplit(weights, t["labels"], t["object_ids"], t["view_ids"], t["psnr"])
    except KeyError as e:
        raise DatasetError(f"shard {path} lacks tensor {e}") from e
    if len(part) != entry["count"]:
        raise DatasetError(f"shard {path} holds {len(part)} INRs, the manifest says {entry['count']}")
    return part


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

    @property
    def n_shards_done(self) -> int:
        return len(self.manifest["shards"])

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if s in self.manifest["splits"]]

    def _shards(self, name: str) -> list[dict]:
        if name not in self.manifest["splits"]:
            raise DatasetError(f"{self.root} has no split {name!r}; it has {self.splits}")
        shards = [e for e in self.manifest["shards"] if e["split"] == name]
        if not shards:
            raise DatasetError(f"split {name!r} of {self.root} is empty")
        return shards

    def split(self, name: str, views: int | None = None) -> INRSplit:
        """Load a split (every shard checked against its sha256); ``views`` keeps the first views only."""
        data = INRSplit.cat([read_shard(self.root, e, self.spec) for e in self._shards(name)])
        return data.first_views(views) if views is not None else data

    def column(self, name: str, field: str) -> Tensor:
        """One per-INR field (``labels``, ``object_ids``, ``view_ids``, ``psnr``) of a split, without its weights."""
        parts = []
        for entry in self._shards(name):
            with safe_open(_verified(self.root, entry), framework="pt") as f:
                parts.append(f.get_tensor(field))
        return torch.cat(parts)
