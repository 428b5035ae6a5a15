"""The 3D sources by name (the procedural shapes, embedded, and folders of meshes), any source by name, and the
INR architecture each kind of source takes."""

from __future__ import annotations

from pathlib import Path

from weightaug.data.meshes import MeshSource, load_meshes
from weightaug.data.shapes import ProceduralShapes
from weightaug.data.sources import ImageSource, load_source
from weightaug.weights import NetworkSpec

SOLID_SOURCES = ("shapes", "modelnet40", "modelnet10", "meshes")
Solids = ProceduralShapes | MeshSource
OCCUPANCY_W0 = 5.0  # generalises between the fitting points; SIREN's 30 does not (benchmarks/bench_fit_occupancy.py)


def load_solids(
    name: str, data_dir: str | Path | None = None, progress: bool = False, download: bool = False
) -> Solids:
    """A 3D source by name; mesh folders are read whole (unusable files skipped, listed in ``skipped``);
    ``download`` fetches ModelNet when it is not found."""
    if name not in SOLID_SOURCES:
        raise ValueError(f"unknown 3D source {name!r}; choose one of {', '.join(SOLID_SOURCES)}")
    return ProceduralShapes() if name == "shapes" else load_meshes(name, data_dir, progress, download)


def describe(source: Solids) -> dict:
    """What a manifest records of a 3D source: its classes, and for meshes the files, their normalisation
    (centre, scale) and the files skipped with their reason."""
    info = {"name": source.name, "kind": "occupancy", "classes": list(source.classes)}
    if isinstance(source, MeshSource):
        info |= {"files": source.files, "normalisation": source.normalisation, "skipped": source.skipped}
    else:
        info |= {"n_per_class": source.n_per_class, "train_per_class": source.train_per_class, "warp": source.warp}
    return info


def load_any(name: str, data_dir: str | Path | None = None, download: bool = False, progress: bool = False):
    """Images (:mod:`weightaug.data.sources`) or 3D solids by name."""
    if name not in SOLID_SOURCES:
        return load_source(name, data_dir, download)
    return load_solids(name, data_dir, progress, download)


def spec_for(source: ImageSource | Solids, **fields) -> NetworkSpec:
    """The INR architecture a source takes: 2D coordinates to its channels, or a 3D point to one occupancy
    logit (w0 :data:`OCCUPANCY_W0` unless given); ``fields`` set the rest."""
    if isinstance(source, ImageSource):
        return NetworkSpec(**{"out_dim": source.shape[0], **fields})
    return NetworkSpec(**{"w0": OCCUPANCY_W0, **fields, "in_dim": 3, "out_dim": 1})
