"""Look at an INR dataset: a summary of its contents, and reconstructions next to the original images."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from weightaug.data.sources import DataNotFoundError, ImageSource, load_source
from weightaug.inr.fit import coordinate_grid, default_lr
from weightaug.inr.store import INRDataset
from weightaug.io import atomic_write_bytes


def summary(ds: INRDataset) -> dict:
    """Counts per split and view, the distribution of the fits' quality (PSNR, or held-out IoU for occupancy
    INRs; keyed by its name) and spec of a dataset (reads no weights)."""
    out = {
        "root": str(ds.root),
        "spec": ds.spec.to_dict(),
        "n_params": ds.spec.n_params,
        "source": ds.manifest["source"],
        "fit": ds.manifest["fit"],
        "canonical": ds.manifest.get("canonical"),
        "splits": {},
    }
    for name in ds.splits:
        every, view_ids, object_ids = (ds.column(name, f) for f in ("quality", "view_ids", "object_ids"))
        psnr = every[torch.isfinite(every)]
        per_view = torch.bincount(view_ids).tolist()
        stats = {}
        if psnr.numel():
            q = torch.quantile(psnr.double(), torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=torch.double)).tolist()
            stats = {
                "mean": psnr.mean().item(),
                "std": psnr.std().item() if psnr.numel() > 1 else 0.0,
                "min": q[0],
                "p10": q[1],
                "median": q[2],
                "p90": q[3],
                "max": q[4],
            }
        target = (ds.manifest["fit"] or {}).get(f"target_{ds.quality}")
        if target is not None and psnr.numel():
            stats["reached_target"] = (psnr >= target).float().mean().item()
        out["splits"][name] = {
            "inrs": len(view_ids),
            "objects": int(object_ids.unique().numel()),
            "per_view": per_view,
            ds.quality: stats,
        }
    return out


FAR_BELOW_DB = 10.0  # an INR this far under the target PSNR (or under 20 dB without one) is a failed fit


def fit_quality_warning(ds: INRDataset) -> str | None:
    """A line saying how many INRs ended far below the fit's target PSNR, and what to change; None if none did."""
    fit = ds.manifest.get("fit") or {}
    if ds.quality != "psnr":
        return None
    target = fit.get("target_psnr")
    floor = target - FAR_BELOW_DB if target is not None else 2 * FAR_BELOW_DB
    psnr = torch.cat([ds.column(name, "quality") for name in ds.splits])
    psnr = psnr[torch.isfinite(psnr)]
    low = psnr < floor
    if not low.any():
        return None
    where = f"more than {FAR_BELOW_DB:g} dB below the {target:g} dB target" if target is not None else "below 20 dB"
    lr, rule = fit["lr"], default_lr(ds.spec)
    advice = (
        f"fit again without --lr (this architecture's rate is {rule:.2g})"
        if lr > 1.01 * rule
        else f"fit again with a lower --lr (try {lr / 5:.2g}) or more --steps"
    )
    return (
        f"{int(low.sum())} of {len(psnr)} INRs ended {where} (median {psnr[low].median():.1f} dB, best "
        f"{psnr.max():.1f} dB) at lr {lr:g} and {fit['steps']} steps; {advice}, with --overwrite"
    )


def render_grid(
    ds: INRDataset,
    out: str | Path,
    split: str = "test",
    n: int = 8,
    source: ImageSource | None = None,
    data_dir: str | None = None,
) -> Path:
    """Save a PNG: for ``n`` objects, the original image (when the source is available) above each view's
    reconstruction; for occupancy INRs, their surfaces (:func:`render_solids`)."""
    if ds.quality == "iou":
        return render_solids(ds, out, split, n, data_dir=data_dir)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = ds.split(split)
    objects = part.object_ids.unique(sorted=False)[:n]
    info = ds.manifest["source"]
    if source is None and info["name"] != "imported":
        try:
            source = load_source(info["name"], data_dir or info.get("data_dir"))
        except DataNotFoundError:
            source = None
    c, h, w = info.get("image_shape", [ds.spec.out_dim, 28, 28])
    n_views = int(part.view_ids.max()) + 1
    rows = n_views + (source is not None)
    fig, axes = plt.subplots(rows, len(objects), figsize=(1.3 * len(objects), 1.4 * rows), squeeze=False)
    coords = coordinate_grid(h, w)
    for col, obj in enumerate(objects.tolist()):
        if source is not None:
            _show(axes[0][col], source.float_images(torch.tensor([obj]))[0], f"image {obj}")
        for view in range(n_views):
            sel = ((part.object_ids == obj) & (part.view_ids == view)).nonzero().flatten()
            ax = axes[view + (source is not None)][col]
            if sel.numel() == 0:
                ax.axis("off")
                continue
            item = part[sel[:1]]
            img = item.weights(coords)[0].T.reshape(c, h, w).clamp(0, 1)
            _show(ax, img, f"v{view} {item.quality[0]:.1f}dB")
    fig.suptitle(
        f"{ds.root.name}: {split} reconstructions" + (" (top: originals)" if source is not None else ""), fontsize=9
    )
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)


def save_figure(fig, out: str | Path, dpi: int) -> Path:
    """Write a matplotlib figure as a PNG, whole or not at all, and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _show(ax, img: torch.Tensor, title: str) -> None:
    ax.imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def surface_mesh(occupancy: torch.Tensor, level: float) -> tuple | None:
    """Vertices in [-1, 1]^3 and faces of the ``level`` set of a ``(R, R, R)`` grid over the cube (marching
    cubes, scikit-image's), or None where the grid never crosses it."""
    from skimage.measure import marching_cubes

    grid = occupancy.numpy()
    if not grid.min() < level < grid.max():
        return None
    vertices, faces, _, _ = marching_cubes(grid, level)
    return vertices / (grid.shape[0] - 1) * 2 - 1, faces


def cube_grid(resolution: int) -> torch.Tensor:
    """``(R^3, 3)`` points of a regular grid over [-1, 1]^3, in (x, y, z) index order."""
    axis = torch.linspace(-1, 1, resolution)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def render_solids(ds: INRDataset, out: str | Path, split: str = "test", n: int = 6, data_dir: str | None = None,
                  resolution: int = 48) -> Path:  # fmt: skip
    """Save a PNG: for ``n`` objects, the source's surface (when its files are at hand) above each view's
    surface, the INR's zero level set by marching cubes on a ``resolution``^3 grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from weightaug.data.solids import load_any

    part = ds.split(split)
    objects = part.object_ids.unique(sorted=False)[:n]
    info = ds.manifest["source"]
    try:
        source = load_any(info["name"], data_dir or info.get("data_dir"))
    except (OSError, ValueError):  # mesh files moved or gone: draw the INRs alone
        source = None
    points = cube_grid(resolution)
    n_views = int(part.view_ids.max()) + 1
    rows = n_views + (source is not None)
    fig = plt.figure(figsize=(2.0 * len(objects), 2.1 * rows))
    for col, obj in enumerate(objects.tolist()):
        surfaces = []
        if source is not None:
            inside = source.inside(torch.tensor([obj]), points[None])[0].float()
            surfaces.append(
                (surface_mesh(inside.reshape((resolution,) * 3), 0.5), f"{ds.classes[source.labels[obj]]} {obj}")
            )
        for view in range(n_views):
            sel = ((part.object_ids == obj) & (part.view_ids == view)).nonzero().flatten()
            if sel.numel():
                item = part[sel[:1]]
                logits = item.weights(points)[0, :, 0].reshape((resolution,) * 3)
                surfaces.append((surface_mesh(logits, 0.0), f"v{view} IoU {item.quality[0]:.2f}"))
        for row, (mesh, title) in enumerate(surfaces):
            ax = fig.add_subplot(rows, len(objects), row * len(objects) + col + 1, projection="3d")
            if mesh is not None:
                vertices, faces = mesh
                ax.plot_trisurf(vertices[:, 0], vertices[:, 1], faces, vertices[:, 2], linewidth=0, antialiased=False)
            ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=[], yticks=[], zticks=[])
            ax.set_title(title, fontsize=7)
    fig.suptitle(
        f"{ds.root.name}: {split} surfaces" + (" (top: the source's)" if source is not None else ""), fontsize=9
    )
    return save_figure(fig, out, dpi=100)
