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
    """Counts per split and view, PSNR distribution and spec of a dataset (reads no weights)."""
    out = {
        "root": str(ds.root),
        "spec": ds.spec.to_dict(),
        "n_params": ds.spec.n_params,
        "source": ds.manifest["source"],
        "fit": ds.manifest["fit"],
        "splits": {},
    }
    for name in ds.splits:
        all_psnr, view_ids, object_ids = (ds.column(name, f) for f in ("psnr", "view_ids", "object_ids"))
        psnr = all_psnr[torch.isfinite(all_psnr)]
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
        target = (ds.manifest["fit"] or {}).get("target_psnr")
        if target is not None and psnr.numel():
            stats["reached_target"] = (psnr >= target).float().mean().item()
        out["splits"][name] = {
            "inrs": len(view_ids),
            "objects": int(object_ids.unique().numel()),
            "per_view": per_view,
            "psnr": stats,
        }
    return out


FAR_BELOW_DB = 10.0  # an INR this far under the target PSNR (or under 20 dB without one) is a failed fit


def fit_quality_warning(ds: INRDataset) -> str | None:
    """A line saying how many INRs ended far below the fit's target PSNR, and what to change; None if none did."""
    fit = ds.manifest.get("fit") or {}
    target = fit.get("target_psnr")
    floor = target - FAR_BELOW_DB if target is not None else 2 * FAR_BELOW_DB
    psnr = torch.cat([ds.column(name, "psnr") for name in ds.splits])
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
    """Save a PNG: for ``n`` objects, the original image (when the source is available) above each view's reconstruction."""
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
            _show(ax, img, f"v{view} {item.psnr[0]:.1f}dB")
    fig.suptitle(
        f"{ds.root.name}: {split} reconstructions" + (" (top: originals)" if source is not None else ""), fontsize=9
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _show(ax, img: torch.Tensor, title: str) -> None:
    ax.imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=7)
    ax.axis("off")
