"""Build an INR dataset from an image source (image INRs, PSNR) or a 3D source (occupancy INRs, IoU on
held-out points): splits, views, shard-by-shard fitting that resumes.

Items of a split are its objects in split order, each with views ``0 .. V-1``: the first ``views`` are
independent fits of the image (neural views), the next ``input_views`` fits of randomly transformed
copies (the input-space baseline). Shards are consecutive blocks of items, fitted and written one at a
time, so memory stays bounded and a killed run resumes at the first unfinished shard. Every INR's
init and transform derive from (seed, object, view) only: the result does not depend on shard or chunk
sizes, or on where a run was interrupted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import Tensor

from weightaug import dist
from weightaug.data.occupancy import PointsConfig, held_out_samples, iou, occupancy_samples
from weightaug.data.solids import Solids, describe
from weightaug.data.sources import ImageSource
from weightaug.data.splits import make_splits
from weightaug.inr.fit import FitConfig, coordinate_grid, fit_inrs, image_targets
from weightaug.inr.store import (
    FORMAT,
    SPLITS,
    VERSION,
    DatasetError,
    INRSplit,
    read_manifest,
    write_manifest,
    write_shard,
)
from weightaug.io import remove, sha256, staging_path, swap_in
from weightaug.kernels import unfused
from weightaug.progress import progress_bar
from weightaug.rng import uniform_streams
from weightaug.weights import NetworkSpec, WeightBatch

INPUT_TRANSFORMS = ("rotate", "translate", "scale", "flip")
SHARD_SIZE = 4096  # INRs per file, the unit of resuming
_TRANSFORM_STREAM = 0x5EED  # offsets the seed so transform draws are independent of the init draws
# INRs fitted together by default (a speed knob, recorded in the manifest). Image INRs (784 points) gain from
# large chunks; occupancy INRs (1,024-4,096 points a step) run fastest while a chunk's activations stay in
# cache: on one core, chunk 16 is 1.3-2.6x faster than 120 (benchmarks/bench_fit_occupancy.py, BENCHMARKS.md).
CHUNK = {("image", "cpu"): 128, ("image", "cuda"): 8192, ("occupancy", "cpu"): 16, ("occupancy", "cuda"): 1024}


# Below this much planned work (INR-steps x points a step x hidden units) a build fits faster unfused than
# compiled once the compile is counted: break-even at 2.7e9 with a fresh inductor cache (15 s of compiling),
# 0.8-1.0e9 from the disk cache, for digits and Fashion-MNIST alike on 2 cores (benchmarks/bench_cold_start.py).
COMPILE_PAYS = 2e9


def planned_work(plan: BuildPlan, source: ImageSource | Solids, spec: NetworkSpec, fit: FitConfig) -> float:
    """The elements a build's activations pass through if no INR stops early: INR-steps x points x hidden units."""
    if isinstance(source, ImageSource):
        points = source.shape[1] * source.shape[2]
    else:
        points = plan.config["points"]["points_per_step"]
    return plan.n_items * fit.steps * points * sum(spec.hidden)


def default_chunk(source: ImageSource | Solids, device: str = "cpu") -> int:
    """The default chunk size for fitting ``source``'s INRs on ``device``."""
    return CHUNK["image" if isinstance(source, ImageSource) else "occupancy", torch.device(device).type]


@dataclass(frozen=True)
class SplitConfig:
    """Split sizes and views. ``None`` sizes: all available (val: 5,000 of the official train set for
    sources that have one, else 15% of the objects; test: the official test set, else 15%)."""

    seed: Annotated[int, "Seed of the splits, the inits and the transforms."] = 0
    train_size: Annotated[int | None, "Use only this many training objects."] = None
    val_size: Annotated[int | None, "Validation objects (default: 5000 of the train set, or 15%)."] = None
    test_size: Annotated[int | None, "Use only this many test objects."] = None
    views: Annotated[int, "Independent fits per training object."] = 1
    eval_views: Annotated[int, "Fits per validation and test object."] = 1
    input_views: Annotated[int, "Extra training fits of randomly transformed images."] = 0
    input_transforms: Annotated[tuple[str, ...], "Transforms of the input views."] = INPUT_TRANSFORMS

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_transforms", tuple(self.input_transforms))
        unknown = set(self.input_transforms) - set(INPUT_TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown input transforms {sorted(unknown)}; choose from {', '.join(INPUT_TRANSFORMS)}")
        if self.views < 1 or self.eval_views < 1 or self.input_views < 0:
            raise ValueError("views and eval_views must be >= 1 and input_views >= 0")

    def views_of(self, split: str) -> int:
        return self.views + self.input_views if split == "train" else self.eval_views

    def objects(self, source: ImageSource) -> dict[str, Tensor]:
        """The object ids of each split (see :func:`weightaug.data.splits.make_splits`)."""
        return make_splits(source, self.seed, self.train_size, self.val_size, self.test_size)


@dataclass
class BuildPlan:
    """What a build will fit: the object ids of each split, and its configuration as stored in the manifest."""

    objects: dict[str, Tensor]
    config: dict
    shards: list[dict] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return sum(s["count"] for s in self.shards)


def transform_images(images: Tensor, u: Tensor, transforms: tuple[str, ...]) -> Tensor:
    """Apply per-image random transforms to ``(B, C, H, W)`` float images, zero fill, bilinear.

    ``u`` is ``(B, 5)`` uniforms in [0, 1): rotation in +-30 degrees, translation in +-0.25 (of the
    [-1, 1] extent) per axis, scale in [0.8, 1.2], horizontal flip with probability 0.5. The image
    content is moved by x -> s R x + t (flipped first); transforms not named stay the identity.
    """
    b = images.shape[0]
    angle = (u[:, 0] * 2 - 1) * math.radians(30) if "rotate" in transforms else torch.zeros(b)
    shift = (u[:, 1:3] * 2 - 1) * 0.25 if "translate" in transforms else torch.zeros(b, 2)
    scale = 0.8 + 0.4 * u[:, 3] if "scale" in transforms else torch.ones(b)
    flip = torch.where(u[:, 4] < 0.5, -1.0, 1.0) if "flip" in transforms else torch.ones(b)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output pixel p samples the input at F (R^T (p - t) / s), F the flip
    inv = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / scale[:, None, None]
    inv = inv * torch.stack([flip, torch.ones(b)], -1)[:, :, None]
    theta = torch.cat([inv, -(inv @ shift[:, :, None])], dim=2).float()
    grid = F.affine_grid(theta, list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def plan_build(
    source: ImageSource | Solids,
    spec: NetworkSpec,
    fit: FitConfig,
    splits: SplitConfig,
    shard_size: int,
    source_info: dict,
    points: PointsConfig | None = None,
) -> BuildPlan:
    """Splits and shard layout of a build, and the configuration that identifies it (for a 3D source, with
    the ``points`` its INRs are fitted and measured on)."""
    if isinstance(source, ImageSource):
        if spec.out_dim != source.shape[0]:
            raise ValueError(
                f"spec has {spec.out_dim} outputs but {source.name} images have {source.shape[0]} channels"
            )
        if spec.in_dim != 2:
            raise ValueError(f"image INRs take 2D coordinates; spec has in_dim {spec.in_dim}")
        described, loss = (
            {"name": source.name, "image_shape": list(source.shape), "classes": list(source.classes)},
            "mse",
        )
    else:
        if (spec.in_dim, spec.out_dim) != (3, 1):
            raise ValueError(
                f"occupancy INRs map a 3D point to one logit; spec has {spec.in_dim} inputs and {spec.out_dim} outputs"
            )
        if splits.input_views:
            raise ValueError("input views transform images; a 3D source takes neural views only (--input-views 0)")
        described, loss = describe(source), "bce"
    objects, fit = splits.objects(source), fit.for_spec(spec)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec.to_dict(),
        "fit": fit.to_dict(loss),  # chunk_size included: BLAS rounding may differ with it
        "source": {**source_info, **described},
        "splits": {
            name: {
                "objects": len(ids),
                "views": splits.views_of(name),
                "input_views": splits.input_views if name == "train" else 0,
            }
            for name, ids in objects.items()
        },
        "split_config": {
            "seed": splits.seed,
            "train_size": splits.train_size,
            "val_size": splits.val_size,
            "test_size": splits.test_size,
            "input_transforms": list(splits.input_transforms),
        },
        "shard_size": shard_size,
    }
    if loss == "bce":  # drawn from the split seed, per object (weightaug.data.occupancy)
        config |= {"quality": "iou", "points": asdict(points or PointsConfig())}
    shards = []
    for name in SPLITS:
        n_items = len(objects[name]) * splits.views_of(name)
        for k, lo in enumerate(range(0, n_items, shard_size)):
            shards.append(
                {
                    "file": f"{name}-{k:05d}.safetensors",
                    "split": name,
                    "start": lo,
                    "count": min(shard_size, n_items - lo),
                }
            )
    config["n_shards"] = len(shards)
    return BuildPlan(objects, config, shards)


def _identity(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in ("shards", "complete", "fit_seconds")}


def _existing(root: Path, plan: BuildPlan) -> tuple[str, Exception | None]:
    """What ``root`` holds for this plan: ``missing`` (nothing, or an empty folder), ``partial`` or ``complete``
    (this very build), or ``other``, with the error that refuses it without --overwrite."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return "missing", None
    if not (root / "manifest.json").is_file():
        return "other", FileExistsError(
            f"{root} exists and is not an INR dataset; pass --overwrite to replace it, or choose another --out"
        )
    try:
        old = read_manifest(root)
    except DatasetError as e:
        return "other", e
    if _identity(old) != plan.config:
        return "other", FileExistsError(
            f"{root} holds an INR dataset of a different configuration; pass --overwrite to replace it "
            "(the new one is built beside it and swapped in when complete), or choose another --out"
        )
    return ("complete" if old.get("complete") else "partial"), None


def _start(root: Path, plan: BuildPlan) -> dict:
    """The manifest to resume from: the shards listed in the manifest or in any rank's record that are intact
    on disk (so a rank killed mid-fit loses only its unfinished shard, whatever the next run's world size)."""
    listed: dict[str, dict] = {}
    if (root / "manifest.json").exists():
        listed = {e["file"]: e for e in read_manifest(root)["shards"]}
    records = dist.RankRecords(root, "shards")
    for record in records.read():
        listed |= {e["file"]: e for e in record}
    intact = [
        listed[e["file"]]
        for e in plan.shards
        if e["file"] in listed
        and (root / e["file"]).is_file()
        and sha256(root / e["file"]) == listed[e["file"]]["sha256"]
    ]
    manifest = {**plan.config, "shards": intact, "complete": False}
    write_manifest(root, manifest)
    records.clear()
    return manifest


def _prepare(final: Path, plan: BuildPlan, overwrite: bool) -> tuple[Path, dict | None]:
    """The folder to fit into and the manifest to resume from; no manifest when ``final`` is complete."""
    staged = staging_path(final)
    final.mkdir(parents=True, exist_ok=True)
    state, refusal = _existing(final, plan)
    if state == "missing" and _existing(staged, plan)[0] == "complete":  # stopped between the two renames
        swap_in(staged, final)
        state = "complete"
    if state == "complete":
        return final, None
    if state != "other":
        return final, _start(final, plan)
    if not overwrite:
        raise refusal
    staged.mkdir(exist_ok=True)
    if _existing(staged, plan)[0] == "other":  # an abandoned replacement of another configuration
        for p in staged.iterdir():
            remove(p)
    return staged, _start(staged, plan)


def build_dataset(
    out: str | Path,
    source: ImageSource | Solids,
    spec: NetworkSpec,
    fit: FitConfig,
    splits: SplitConfig,
    shard_size: int = SHARD_SIZE,
    overwrite: bool = False,
    source_info: dict | None = None,
    device: str = "cpu",
    progress: Callable[[int, Tensor], None] | None = None,
    points: PointsConfig | None = None,
    share: Callable[[int], None] | None = None,
) -> Path:
    """Fit (or resume fitting) the dataset described by the arguments into ``out``.

    A finished ``out`` of the same build is left as it is (nothing is written). An ``out`` holding anything
    else is refused unless ``overwrite``; then the new dataset is built in a hidden sibling folder (which
    resumes like ``out`` itself) and swapped in only when complete, so a failed or killed build loses nothing.
    Under torchrun every rank calls this: rank 0 judges the folder, each rank fits every world-size-th of the
    unfinished shards and records them as it writes them, and rank 0 writes the complete manifest once all are
    done. The bytes do not depend on the number of ranks. ``progress(n, quality)`` is called as this rank's INRs
    finish, first with the already finished ones (``quality`` empty), at the end with the other ranks' ones;
    ``share(n)`` once before fitting, with the count this rank's calls reach before that last one.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    final = Path(out)
    plan = plan_build(source, spec, fit, splits, shard_size, source_info or {}, points)
    root, manifest = dist.on_main(lambda: _prepare(final, plan, overwrite))
    if manifest is None:
        if progress is not None:
            progress(plan.n_items, torch.empty(0))
        return final
    done = {e["file"] for e in manifest["shards"]}
    rank = dist.rank()
    todo = [e for e in plan.shards if e["file"] not in done][rank :: dist.world_size()]
    finished_before = sum(e["count"] for e in manifest["shards"])
    if share is not None:
        share(finished_before + sum(e["count"] for e in todo))
    if progress is not None:
        progress(finished_before, torch.empty(0))
    points = PointsConfig(**plan.config["points"]) if "points" in plan.config else None
    started, mine, records = time.time(), [], dist.RankRecords(root, "shards")
    small = planned_work(plan, source, spec, fit) < COMPILE_PAYS  # by the plan: the same kernels on every resume
    for entry in todo:
        with unfused(small):
            part = fit_shard(source, spec, fit, splits, plan.objects[entry["split"]], entry, device, progress, points)
        mine.append({**entry, "sha256": write_shard(root, entry["file"], part, plan.config.get("quality", "psnr"))})
        if rank == 0:
            write_manifest(root, {**manifest, "shards": sorted([*manifest["shards"], *mine], key=lambda e: e["file"])})
        else:
            records.write(mine)
    finished = [e for entries in dist.gather(mine) for e in entries]
    if dist.is_main():
        if progress is not None:
            progress(sum(e["count"] for e in finished) - sum(e["count"] for e in mine), torch.empty(0))
        shards = sorted([*manifest["shards"], *finished], key=lambda e: e["file"])
        write_manifest(
            root, {**manifest, "shards": shards, "complete": True, "fit_seconds": round(time.time() - started, 1)}
        )
        records.clear()
        if root != final:
            swap_in(root, final)
    dist.gather(None)  # no rank returns before the dataset is complete
    return final


def fit_with_progress(
    out: str | Path, source: ImageSource | Solids, spec: NetworkSpec, fit: FitConfig, splits: SplitConfig,
    enabled: bool = True, **options,
) -> Path:  # fmt: skip
    """:func:`build_dataset` (``options`` are its own) with a progress bar of INRs and their running mean
    quality (PSNR, or held-out IoU)."""
    shard_size, source_info = options.get("shard_size", SHARD_SIZE), options.get("source_info") or {}
    plan = plan_build(source, spec, fit, splits, shard_size, source_info, options.get("points"))
    fitted = {"n": 0, "sum": 0.0}
    label = "mean IoU {:.3f}" if plan.config.get("quality") == "iou" else "mean PSNR {:.1f} dB"

    def update(n: int, quality: Tensor) -> None:
        fitted["n"] += quality.numel()
        fitted["sum"] += quality.sum().item()
        bar.update(task, advance=n, note=label.format(fitted["sum"] / fitted["n"]) if fitted["n"] else "")

    ranks = f" (rank 0's share, of {dist.world_size()} ranks)" if dist.world_size() > 1 else ""
    with progress_bar(rate=True, enabled=enabled and dist.is_main()) as bar:
        task = bar.add_task(f"fitting INRs into {out}{ranks}", total=plan.n_items, note="")
        final = build_dataset(
            out, source, spec, fit, splits, **options, progress=update, share=lambda n: bar.update(task, total=n)
        )
        bar.update(task, total=plan.n_items)  # the last progress call counted the other ranks' INRs
        return final


def fit_shard(
    source: ImageSource | Solids,
    spec: NetworkSpec,
    fit: FitConfig,
    splits: SplitConfig,
    split_objects: Tensor,
    entry: dict,
    device: str = "cpu",
    progress: Callable[[int, Tensor], None] | None = None,
    points: PointsConfig | None = None,
) -> INRSplit:
    """Fit the items ``entry['start'] .. + entry['count']`` of a split."""
    n_views = splits.views_of(entry["split"])
    items = torch.arange(entry["start"], entry["start"] + entry["count"])
    object_ids = split_objects[items // n_views]
    view_ids = items % n_views
    if not isinstance(source, ImageSource):
        return fit_occupancy(
            source, spec, fit, splits.seed, object_ids, view_ids, points or PointsConfig(), device, progress
        )
    images = source.float_images(object_ids)
    transformed = (
        view_ids >= splits.views if entry["split"] == "train" else torch.zeros_like(view_ids, dtype=torch.bool)
    )
    if transformed.any():
        u = uniform_streams(splits.seed + _TRANSFORM_STREAM, object_ids[transformed], view_ids[transformed], 5).float()
        images[transformed] = transform_images(images[transformed], u, splits.input_transforms)
    coords = coordinate_grid(*source.shape[1:], device=device)
    targets = image_targets(images).to(device)
    weights, psnr = fit_inrs(spec, targets, fit, splits.seed, object_ids, view_ids, coords, progress)
    return INRSplit(weights.to("cpu"), source.labels[object_ids], object_ids, view_ids, psnr.cpu())


def fit_occupancy(
    source: Solids,
    spec: NetworkSpec,
    fit: FitConfig,
    seed: int,
    object_ids: Tensor,
    view_ids: Tensor,
    points: PointsConfig,
    device: str = "cpu",
    progress: Callable[[int, Tensor], None] | None = None,
) -> INRSplit:
    """Occupancy INRs of the items, a chunk at a time: each object's points drawn (:mod:`weightaug.data.occupancy`),
    the INRs fitted to them (binary cross-entropy), their quality the IoU on the object's held-out points."""
    weights, quality = [], []
    for lo in range(0, len(object_ids), fit.chunk_size):
        ids, views = object_ids[lo : lo + fit.chunk_size], view_ids[lo : lo + fit.chunk_size]
        objects, of = torch.unique(ids, return_inverse=True)  # an object's views share its points: draw them once
        coords, occupancy = occupancy_samples(
            source, objects, points.uniform_points, points.near_points, points.near_sigma, seed
        )
        targets, coords = occupancy[of, :, None].to(device), coords[of].to(device)
        part, _ = fit_inrs(
            spec, targets, fit, seed, ids, views, coords, loss="bce", points_per_step=points.points_per_step
        )
        held, held_occupancy = held_out_samples(source, objects, points.held_out_points, seed)
        quality.append(iou(part(held[of].to(device)), held_occupancy[of].to(device)).cpu())
        weights.append(part.to("cpu"))
        if progress is not None:
            progress(len(ids), quality[-1])
    return INRSplit(WeightBatch.cat(weights), source.labels[object_ids], object_ids, view_ids, torch.cat(quality))


@dataclass(frozen=True)
class FitEstimate:
    """How long a build would take here, from fitting one chunk of its real training items."""

    sampled: int
    seconds: float  # for the sample
    mean_quality: float  # PSNR (dB) or IoU
    total_items: int

    @property
    def inrs_per_second(self) -> float:
        return self.sampled / self.seconds

    @property
    def total_seconds(self) -> float:
        return self.total_items / self.inrs_per_second


def estimate_fit(
    source: ImageSource | Solids,
    spec: NetworkSpec,
    fit: FitConfig,
    splits: SplitConfig,
    device: str = "cpu",
    points: PointsConfig | None = None,
) -> FitEstimate:
    """Fit one chunk of the build's first training items with the kernels the build would use (after a small
    warm-up that compiles them, if it would) and extrapolate to the whole build; nothing is written."""
    plan = plan_build(source, spec, fit, splits, fit.chunk_size, {}, points)
    entry, objects = plan.shards[0], plan.objects[plan.shards[0]["split"]]
    with unfused(planned_work(plan, source, spec, fit) < COMPILE_PAYS):
        fit_shard(source, spec, fit, splits, objects, {**entry, "count": min(8, entry["count"])}, device, points=points)
        start = time.time()
        part = fit_shard(source, spec, fit, splits, objects, entry, device, points=points)
    return FitEstimate(entry["count"], time.time() - start, part.quality.mean().item(), plan.n_items)
