"""Mesh datasets from folders: ModelNet40 / ModelNet10 (``<class>/train|test/*.off``) and any folder of meshes
with class sub-folders (``.off``, ``.obj``, ``.ply``, ``.stl``; ``<class>/*`` or ``<class>/train|test/*``).

Each mesh is read (OFF by our reader, which also takes ModelNet's header fused with the counts, "OFF490 1000 0";
the other formats by trimesh), cleaned of degenerate faces, and normalised to the unit cube: centred on its
bounding box, scaled so the box's longest side spans [-0.9, 0.9]. Inside is where the generalised winding
number (libigl's fast winding number) exceeds 1/2, which stays right on meshes as ModelNet ships them, many not
watertight, some with inconsistent winding. A file that cannot be used is skipped with its reason; the rest load.
"""

from __future__ import annotations

import importlib
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from weightaug.data.occupancy import SURFACE, stream
from weightaug.data.sources import download
from weightaug.progress import progress_bar

MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl")
HALF_SIDE = 0.9  # a normalised mesh's longest bounding-box side spans [-HALF_SIDE, HALF_SIDE]
_HOW_TO_GET = {
    "modelnet40": "pass --data-dir to the unpacked ModelNet40 folder (<class>/train|test/*.off), or --download",
    "modelnet10": "pass --data-dir to the unpacked ModelNet10 folder (<class>/train|test/*.off), or --download",
    "meshes": "pass --data-dir to a folder of class sub-folders holding .off, .obj, .ply or .stl files",
}


MODELNET = {  # the archives on the ModelNet site, and the folder each unpacks to
    "modelnet40": ("http://modelnet.cs.princeton.edu/ModelNet40.zip", "ModelNet40"),
    "modelnet10": ("http://3dvision.princeton.edu/projects/2014/3DShapeNets/ModelNet10.zip", "ModelNet10"),
}


class MeshError(ValueError):
    """A mesh file that cannot be used, or a folder that is not a mesh dataset."""


def _geometry(module: str):
    """trimesh or igl, or a clear error saying how to install them."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "meshes need trimesh and libigl, which are not installed: pip install 'weightaug[mesh]'"
        ) from err


def read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` and triangles ``(F, 3)`` of an OFF file (polygons fanned into triangles)."""
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines or not lines[0].upper().startswith("OFF"):
        raise MeshError(
            f"{path}: not an OFF file (its first line is {lines[0][:40]!r} )" if lines else f"{path}: empty"
        )
    counts = lines[0][3:].split() or lines[1].split()  # "OFF490 1000 0" or "OFF" then "490 1000 0"
    body = lines[1:] if lines[0][3:].split() else lines[2:]
    try:
        n_vertices, n_faces = int(counts[0]), int(counts[1])
        vertices = np.array([ln.split()[:3] for ln in body[:n_vertices]], dtype=np.float64)
        faces = [list(map(int, ln.split())) for ln in body[n_vertices : n_vertices + n_faces]]
    except (ValueError, IndexError) as err:
        raise MeshError(f"{path}: malformed OFF ({err})") from err
    if vertices.shape != (n_vertices, 3) or len(faces) != n_faces:
        raise MeshError(f"{path}: the OFF header promises {n_vertices} vertices and {n_faces} faces; fewer follow")
    if any(len(f) < 1 + max(f[0], 3) for f in faces):
        raise MeshError(f"{path}: a face line lists fewer vertex indices than its count, or fewer than 3")
    triangles = [(f[1], f[1 + k], f[2 + k]) for f in faces for k in range(1, f[0] - 1)]
    return vertices, np.array(triangles, dtype=np.int64).reshape(-1, 3)


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a mesh file, checked: finite, in range, with faces of positive area."""
    if path.suffix.lower() == ".off":
        vertices, faces = read_off(path)
    else:
        try:
            mesh = _geometry("trimesh").load(path, force="mesh", process=False)
        except Exception as err:  # trimesh raises many kinds on bad files
            raise MeshError(f"{path}: unreadable ({type(err).__name__}: {err})") from err
        vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    if len(vertices) == 0 or len(faces) == 0:
        raise MeshError(f"{path}: no vertices or no faces")
    if not np.isfinite(vertices).all():
        raise MeshError(f"{path}: vertices that are NaN or infinite")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"{path}: faces index vertices that do not exist")
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    faces = faces[np.linalg.norm(np.cross(b - a, c - a), axis=1) > 0]  # degenerate faces carry no surface
    if len(faces) == 0:
        raise MeshError(f"{path}: every face is degenerate (zero area)")
    return vertices, faces


def normalise(vertices: np.ndarray) -> tuple[np.ndarray, list[float], float]:
    """Vertices centred on their bounding box and scaled into the unit cube; the centre and scale applied."""
    low, high = vertices.min(0), vertices.max(0)
    centre, side = (low + high) / 2, (high - low).max()
    if side <= 0:
        raise MeshError("the mesh is a single point")
    scale = 2 * HALF_SIDE / side
    return (vertices - centre) * scale, centre.tolist(), float(scale)


@dataclass
class MeshSource:
    """Meshes with class labels, normalised; the first ``n_train`` objects are the official train set (when
    the folder has ``train``/``test`` sub-folders, else none). ``skipped`` lists the unusable files."""

    name: str
    classes: tuple[str, ...]
    labels: Tensor
    n_train: int
    files: list[str]
    vertices: list[np.ndarray]
    faces: list[np.ndarray]
    normalisation: list[dict]
    skipped: list[dict] = field(default_factory=list)

    def inside(self, ids: Tensor, points: Tensor) -> Tensor:
        """``(B, N)``: generalised winding number of each object's mesh at ``points`` ``(B, N, 3)`` above 1/2."""
        igl = _geometry("igl")
        out = []
        for i, p in zip(ids.tolist(), points.detach().cpu().double().numpy()):
            out.append(igl.fast_winding_number(self.vertices[i], self.faces[i], p) > 0.5)
        return torch.from_numpy(np.stack(out)).to(points.device)

    def surface(self, ids: Tensor, n: int, seed: int) -> Tensor:
        """``(B, n, 3)`` points uniform on each mesh's surface (faces by area, then uniform in the face),
        from the object's own stream."""
        u = stream(seed, ids, SURFACE, 3 * n).view(len(ids), n, 3).double().numpy()
        out = []
        for i, (pick, r1, r2) in zip(ids.tolist(), u.transpose(0, 2, 1)):
            v, f = self.vertices[i], self.faces[i]
            a, b, c = (v[f[:, k]] for k in range(3))
            area = np.cumsum(np.linalg.norm(np.cross(b - a, c - a), axis=1))
            face = np.minimum(np.searchsorted(area, pick * area[-1], side="right"), len(f) - 1)
            s = np.sqrt(r1)[:, None]
            out.append((1 - s) * a[face] + s * (1 - r2[:, None]) * b[face] + s * r2[:, None] * c[face])
        return torch.from_numpy(np.stack(out)).float()


def _class_files(root: Path, split: str | None) -> list[tuple[str, Path]]:
    files = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        where = folder / split if split else folder
        if where.is_dir():
            files += [(folder.name, f) for f in sorted(where.iterdir()) if f.suffix.lower() in MESH_SUFFIXES]
    return files


def _holds_meshes(folder: Path) -> bool:
    return any(f.suffix.lower() in MESH_SUFFIXES for f in folder.iterdir()) or any(
        (folder / split).is_dir() for split in ("train", "test")
    )


def find_mesh_root(name: str, data_dir: str | Path | None, download: bool = False) -> Path:
    """The folder holding the class sub-folders: ``data_dir`` itself, or ``data_dir/ModelNet40`` and the like
    (``download``: fetched and unpacked there first, or under ~/.cache/weightaug, when missing)."""
    if data_dir is None and not download:
        raise MeshError(f"{name} needs its files: {_HOW_TO_GET[name]}")
    root = Path(data_dir) if data_dir is not None else Path.home() / ".cache" / "weightaug"
    named = root / MODELNET[name][1] if name in MODELNET else root
    for candidate in (named, root):
        if candidate.is_dir() and any(p.is_dir() and _holds_meshes(p) for p in candidate.iterdir()):
            return candidate
    if download and name in MODELNET:
        return download_modelnet(name, root)
    if not root.is_dir():
        raise MeshError(f"{root} is not a folder; {_HOW_TO_GET[name]}")
    raise MeshError(f"{root} holds no class sub-folders of meshes; {_HOW_TO_GET[name]}")


def download_modelnet(name: str, root: Path) -> Path:
    """ModelNet's archive fetched into ``root`` and unpacked beside it, then moved into place whole."""
    url, folder = MODELNET[name]
    archive = root / f"{folder}.zip"
    download(url, archive)
    staging = root / f".{folder}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as z:
            z.extractall(staging)
    except zipfile.BadZipFile as err:
        raise MeshError(f"{archive} is not a zip archive ({err}); delete it and download again") from err
    unpacked = staging / folder if (staging / folder).is_dir() else staging
    unpacked.replace(root / folder)
    shutil.rmtree(staging, ignore_errors=True)
    return root / folder


def load_meshes(name: str, data_dir: str | Path | None, progress: bool = False, download: bool = False) -> MeshSource:
    """Read every mesh of a folder (``name``: modelnet40, modelnet10 or meshes), skipping unusable files."""
    root = find_mesh_root(name, data_dir, download)
    split = any((p / "train").is_dir() for p in root.iterdir() if p.is_dir())
    listed = _class_files(root, "train") + _class_files(root, "test") if split else _class_files(root, None)
    if not listed:
        raise MeshError(f"{root} has class sub-folders but no {'/'.join(MESH_SUFFIXES)} files in them")
    classes = tuple(sorted({c for c, _ in listed}))
    n_train_listed = len(_class_files(root, "train")) if split else 0
    kept, skipped = [], []
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task(f"reading meshes under {root}", total=len(listed), note="")
        for k, (label, path) in enumerate(listed):
            try:
                vertices, faces = read_mesh(path)
                vertices, centre, scale = normalise(vertices)
            except MeshError as err:
                skipped.append({"file": str(path.relative_to(root)), "reason": str(err).removeprefix(f"{path}: ")})
            else:
                kept.append({"label": classes.index(label), "file": str(path.relative_to(root)), "train": k < n_train_listed,
                             "vertices": vertices, "faces": faces, "normalisation": {"centre": centre, "scale": scale}})  # fmt: skip
            bar.update(task, advance=1)
    if not kept:
        raise MeshError(f"no usable mesh under {root}: {skipped[0]['file']}: {skipped[0]['reason']}")
    return MeshSource(
        name=name,
        classes=classes,
        labels=torch.tensor([m["label"] for m in kept]),
        n_train=sum(m["train"] for m in kept),  # train files come first: kept train objects are a prefix
        files=[m["file"] for m in kept],
        vertices=[m["vertices"] for m in kept],
        faces=[m["faces"] for m in kept],
        normalisation=[m["normalisation"] for m in kept],
        skipped=skipped,
    )
