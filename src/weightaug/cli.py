"""The weightaug command line: a thin front over the library (parse, call, print)."""

from __future__ import annotations

import inspect
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from weightaug import dist
from weightaug.data.occupancy import PointsConfig
from weightaug.data.solids import SOLID_SOURCES, load_any, spec_for
from weightaug.data.sources import SOURCES
from weightaug.experiments.config import parse_setting, presets
from weightaug.experiments.runner import run_experiment
from weightaug.experiments.single import train_image_model, train_inr_model
from weightaug.experiments.tables import reported
from weightaug.inr.build import SHARD_SIZE, SplitConfig, default_chunk, estimate_fit, fit_with_progress, plan_build
from weightaug.inr.canonical import CanonicalForm
from weightaug.inr.exporter import export_dataset
from weightaug.inr.fit import FitConfig, FitDivergedError
from weightaug.inr.importer import import_peer_dataset
from weightaug.inr.store import SPLITS, INRDataset
from weightaug.kernels import keep_freed_memory
from weightaug.models import MODELS
from weightaug.options import POSITIVE, RegistryChoice, build, fields
from weightaug.progress import LOG_WIDTH, console, progress_bar
from weightaug.train.loop import TrainConfig
from weightaug.weights import NetworkSpec

stdout = Console(width=None if sys.stdout.isatty() else LOG_WIDTH)
USER_ERRORS = (  # what a user's input or files can cause: printed as one line, exit 2
    ValueError,  # bad options and configs, unusable datasets and files (ConfigError, DatasetError, ...)
    OSError,  # missing data (DataNotFoundError), refused overwrites, writes that fail (weightaug.io.WriteError)
    FitDivergedError,
    FloatingPointError,
)
PATH = click.Path(file_okay=False)
DATASET = click.Path(exists=True, file_okay=False)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as e:
            if dist.is_main():
                console.print(f"[red]error:[/red] {e}")
            sys.exit(2)


def _table(title: str, columns: tuple[str, ...], rows) -> Table:
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*map(str, row))
    return table


@click.group(cls=_Group)
@click.version_option(package_name="weightaug")
def main() -> None:
    """weightaug: INR datasets, weight-space augmentation and shadow-weight training."""
    keep_freed_memory()
    console.quiet = stdout.quiet = not dist.is_main()  # under torchrun rank 0 speaks for all (same errors too)
    dist.bind_gpu()


@main.command()
@click.option("--source", type=click.Choice(SOURCES + SOLID_SOURCES), default="digits", show_default=True,
              help="Images (image INRs) or 3D shapes (occupancy INRs): shapes is the embedded procedural set.")  # fmt: skip
@click.option("--data-dir", type=PATH, default=None, help="Folder holding the source's files.")
@click.option("--download", is_flag=True, help="Download the source if it is not found (needs internet).")
@click.option("--out", type=PATH, required=True, help="Output dataset directory.")
@fields(SplitConfig, "views", "eval_views", "input_views", "input_transforms", "train_size", "val_size", "test_size")
@fields(NetworkSpec, "hidden", "activation", "w0", "output_offset", w0=None, output_offset=None)
@fields(FitConfig, "steps", "lr", "init", "target_psnr", "target_iou", "chunk_size", chunk_size=None)
@fields(PointsConfig, "uniform_points", "near_points", "near_sigma", "held_out_points", "points_per_step")
@fields(SplitConfig, "seed")
@click.option("--shard-size", type=POSITIVE, default=SHARD_SIZE, show_default=True, help="INRs per file (resume unit).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--overwrite", is_flag=True, help="Replace an output directory of another configuration.")
@click.option("--dry-run", is_flag=True, help="Fit a sample, print how long the whole fit would take, write nothing.")
def fit(source, data_dir, download, out, shard_size, device, overwrite, dry_run, **settings) -> None:
    """Fit an INR dataset: several views per object, in batches, resumable; under torchrun the processes share
    the shards (`torchrun --nproc-per-node N -m weightaug fit ...`). Image INRs default to w0 30 and output
    offset 0.5, occupancy INRs (3 -> 1 logit) to w0 5 and offset 0."""
    solid = source in SOLID_SOURCES
    src = load_any(source, data_dir, download, progress=True)
    given = {k: settings[k] for k in ("hidden", "activation", "w0", "output_offset") if settings[k] is not None}
    spec = spec_for(src, **{"output_offset": 0.0 if solid else 0.5, **given})
    settings["chunk_size"] = settings["chunk_size"] or default_chunk(src, device)
    cfg, splits, points = build(FitConfig, settings), build(SplitConfig, settings), build(PointsConfig, settings)
    info = {"data_dir": data_dir} if data_dir else {}
    plan = plan_build(src, spec, cfg, splits, shard_size, info, points if solid else None)
    split_line = ", ".join(f"{k} {v['objects']} x {v['views']} views" for k, v in plan.config["splits"].items())
    console.print(
        f"[bold]{src.name}[/bold] -> {out}: {plan.n_items} INRs ({split_line}), spec {spec.widths}, "
        f"{spec.n_params} params each, lr {plan.config['fit']['lr']:.2g}"
    )
    if solid and getattr(src, "skipped", None):
        console.print(f"[yellow]skipped {len(src.skipped)} unusable mesh files[/yellow] (listed in the manifest), "
                      f"e.g. {src.skipped[0]['file']}: {src.skipped[0]['reason']}")  # fmt: skip
    if dry_run:
        e = estimate_fit(src, spec, cfg, splits, device, points if solid else None)
        quality = f"mean held-out IoU {e.mean_quality:.3f}" if solid else f"mean PSNR {e.mean_quality:.1f} dB"
        return console.print(
            f"dry run: {e.sampled} INRs fitted in {e.seconds:.1f} s ({e.inrs_per_second:.1f} INRs/s, {quality}); "
            f"the whole fit of {e.total_items} INRs would take about {_duration(e.total_seconds)} here"
        )
    options = {"shard_size": shard_size, "overwrite": overwrite, "source_info": info, "device": device}
    options["points"] = points if solid else None
    _print_summary(INRDataset(fit_with_progress(out, src, spec, cfg, splits, **options)))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


QUALITY_STATS = ("min", "p10", "median", "p90")


def _split_row(name: str, d: dict, quality: str) -> tuple:
    p, digits = d[quality], 2 if quality == "psnr" else 3
    cells = (
        [f"{p['mean']:.{digits}f} ± {p['std']:.{digits}f}", *(f"{p[k]:.{digits}f}" for k in QUALITY_STATS)]
        if p
        else ["n/a"] * 5
    )
    reached = f"{100 * p['reached_target']:.1f}%" if "reached_target" in p else "-"
    return name, d["objects"], d["inrs"], " ".join(map(str, d["per_view"])), *cells, reached


def _print_summary(ds: INRDataset, as_json: bool = False) -> None:
    from weightaug.inr.render import fit_quality_warning, summary

    s, spec = summary(ds), ds.spec
    if as_json:
        return click.echo(json.dumps(s, indent=1))
    stdout.print(
        f"[bold]{s['root']}[/bold]: source {s['source']['name']}, spec {spec.widths} {spec.activation} "
        f"w0={spec.w0:g} offset={spec.output_offset:g}, {s['n_params']} params per INR"
    )
    if s["source"]["name"] == "imported":
        roots = "; ".join(f"{a} -> {b}" for a, b in s["source"].get("roots", {}).items())
        stdout.print(f"imported from {s['source']['from']}" + (f", absolute paths re-rooted: {roots}" if roots else ""))
    if canonical := s["canonical"]:
        stdout.print(f"canonical form {canonical['name']} of {canonical['from']}")
    label = {"psnr": "PSNR (dB)", "iou": "held-out IoU"}[ds.quality]
    columns = ("split", "objects", "INRs", "INRs per view", f"{label} mean ± std", *QUALITY_STATS, "reached target")
    stdout.print(_table("", columns, (_split_row(name, d, ds.quality) for name, d in s["splits"].items())))
    if warning := fit_quality_warning(ds):
        console.print(f"[yellow]warning:[/yellow] {warning}")


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(dataset: str, as_json: bool) -> None:
    """Counts per split and view, the fits' quality (PSNR, or held-out IoU of occupancy INRs) and spec of an
    INR dataset."""
    _print_summary(INRDataset(dataset), as_json)


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("-n", "n", type=POSITIVE, default=8, show_default=True, help="Number of objects.")
@click.option("--data-dir", type=PATH, default=None, help="Where the source images are, for the originals row.")
def render(dataset: str, out: str, split: str, n: int, data_dir: str | None) -> None:
    """Reconstructions of an INR dataset next to the original images, as a PNG grid."""
    from weightaug.inr.render import render_grid

    console.print(f"wrote {render_grid(INRDataset(dataset), out, split, n, data_dir=data_dir)}")


@main.command("import")
@click.argument("splits_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=PATH, required=True, help="Output dataset directory.")
@fields(import_peer_dataset, "root", "multiview", "w0", "output_offset", "image_size", "overwrite")
def import_(splits_json: str, out: str, **options) -> None:
    """Import a peer-format INR dataset (torch state_dict files with a label, plus a splits JSON)."""
    with progress_bar(rate=True) as bar:
        task = bar.add_task("importing", total=None, note="")
        root = import_peer_dataset(splits_json, out, **options, progress=lambda n: bar.update(task, advance=n))
    _print_summary(INRDataset(root))


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--out", type=PATH, required=True, help="Output folder.")
@fields(export_dataset, "format", "overwrite")
def export(dataset: str, out: str, **options) -> None:
    """Export a dataset to the peers' format: a state_dict file per INR, splits JSON and statistics for their
    trainers (`weightaug import OUT/splits.json` reads it back)."""
    with progress_bar(rate=True) as bar:
        task = bar.add_task("exporting", total=len(INRDataset(dataset)), note="")
        root = export_dataset(dataset, out, **options, progress=lambda n: bar.update(task, advance=n))
    console.print(f"wrote {root}: {root / 'splits.json'}, {root / 'statistics.pth'}")


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--out", type=PATH, required=True, help="Output dataset directory.")
@click.option("--form", default="phase+mean", show_default=True,
              help="phase (biases into [0, pi/2w0], neurons in bias order), a template (mean, medoid), or both: phase+mean.")  # fmt: skip
@fields(CanonicalForm, "iterations")
@click.option("--overwrite", is_flag=True, help="Replace the output directory.")
def canonicalize(dataset: str, out: str, form: str, iterations: int, overwrite: bool) -> None:
    """Write a dataset's canonical copy: every INR the same function, in one form per orbit of its symmetries
    (SIREN sign flips, bias shifts by pi/w0, neuron permutations); labels and fit quality unchanged."""
    from weightaug.inr.canonical import canonicalize as make

    chosen = CanonicalForm.parse(form, iterations)
    with console.status(f"canonicalising {dataset} ({chosen.name})"):
        ds = make(dataset, out, chosen, overwrite)
    console.print(f"wrote {ds.root}: {chosen.name} in {ds.manifest['canonical']['seconds']:.1f} s")
    _print_summary(ds)


@main.command()
@fields(NetworkSpec, "hidden", "in_dim", "out_dim")
@click.option("--classes", type=POSITIVE, default=10, show_default=True)
def models(classes: int, **settings) -> None:
    """The weight-space models at their presets: parameters for INRs of this spec, and what each is."""
    from weightaug.models import describe

    spec = build(NetworkSpec, settings)
    rows = [(name, f"{n:,}", *rest) for name, (n, *rest) in describe(spec, classes).items()]
    title = f"weight-space models for INRs {'-'.join(map(str, spec.widths))}, {classes} classes"
    stdout.print(_table(title, ("name", "weights", "invariant to", "description", "settings (name:key=value)"), rows))


@main.command()
def augmentations() -> None:
    """The augmentations by name, as --augment and the Python registry take them."""
    from weightaug.augment.registry import FULL_PIPELINE, describe

    title = "augmentations (name:key=value sets a parameter)"
    stdout.print(_table(title, ("name", "what it does"), describe().items()))
    stdout.print(f"full pipeline: {FULL_PIPELINE}")


def _experiment_options(f):
    """--data-root, --device and --set, shared by demo and experiment."""
    f = click.option(
        "--set",
        "settings",
        multiple=True,
        callback=lambda _c, _p, v: dict(map(parse_setting, v)),
        help="key=value over the config, e.g. --set epochs=5 (TOML values).",
    )(f)
    f = click.option("--device", default="cpu", show_default=True, help="cpu or cuda (bfloat16 autocast on CUDA).")(f)
    return click.option("--data-root", type=PATH, default="runs/data", show_default=True)(f)


def _run_and_report(
    name: str, preset: str, out, data_root: str, device: str, settings: dict, fresh: bool, ddp=False, log="none"
) -> None:
    from weightaug.experiments import load_config

    cfg = load_config(name, preset, settings)  # config errors before anything is touched
    console.print(f"[bold]{name}[/bold] at preset [bold]{preset}[/bold]: {cfg.description}")
    path = run_experiment(name, preset, out, data_root, device, settings, fresh=fresh, ddp=ddp, log=log)
    stdout.print((path / "table.md").read_text())
    console.print(f"results, table and plot in {path}/ (results.json, table.md, {name}.png)")


@main.command("train")
@click.argument("dataset", type=DATASET)
@fields(train_inr_model, "model", "augment", "views", "contrastive", kinds={"model": RegistryChoice(MODELS)})
@fields(TrainConfig, "epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule", "seed", "device")
@fields(train_inr_model, "normalise", "log")
@click.option("--out", type=PATH, required=True, help="Folder for checkpoint, results and curves.")
def train_command(dataset, out, model, augment, views, contrastive, normalise, log, **settings) -> None:
    """Train one weight-space model on an INR dataset (resumes from --out/checkpoint.pt)."""
    cfg = build(TrainConfig, settings)
    _print_best(train_inr_model(dataset, out, cfg, model, augment, views, contrastive, normalise, log), out)


def _print_best(r, out: str) -> None:
    metrics = ", ".join(f"{label} {100 * v:.2f}%" for label, v in reported(r.to_dict()).items())
    if "dom_flops_ratio" in r.best:
        metrics += f" (desire-oriented: {100 * r.best['dom_flops_ratio']:.1f}% of the FLOPs)"
    stdout.print(f"best epoch {r.best_epoch}: {metrics} ({r.seconds:.0f} s); results.json and curves.png in {out}")


@main.command()
@click.option("--out", type=PATH, default="runs/demo", show_default=True)
@_experiment_options
def demo(out: str, data_root: str, device: str, settings: dict) -> None:
    """The main job, on the embedded digits: one view against four views per object, and at one view plain
    training against SIREN negation and sign-aware aligned MixUp, the pixel baseline beside them; prints the
    table and what it shows, and saves a plot (every figure measured in this run, about 5 minutes)."""
    _run_and_report("demo", "digits", out, data_root, device, settings, fresh=True)


@main.command()
@click.argument("name")
@click.option("--preset", type=click.Choice(list(presets())), default="digits", show_default=True)
@click.option("--out", type=PATH, default=None, help="Default runs/experiments/NAME-PRESET.")
@_experiment_options
@click.option("--fresh", is_flag=True, help="Discard earlier results and checkpoints in --out instead of resuming.")
@click.option("--ddp", is_flag=True, help="Under torchrun: the ranks train each run together (DDP) instead of "
              "sharing the runs out.")  # fmt: skip
@fields(run_experiment, "log")
def experiment(name: str, preset: str, out, data_root: str, device: str, settings: dict, fresh: bool, ddp, log) -> None:
    """Run (or resume) one of the paper's experiments; `weightaug experiments` lists them. Under torchrun the
    ranks share the runs out (or, with --ddp, train each together); rank 0 writes the results."""
    _run_and_report(name, preset, out, data_root, device, settings, fresh, ddp, log)


@main.command()
@click.argument("folder", type=DATASET)
def report(folder: str) -> None:
    """Render an experiment's table.md and plot again from its results.json (e.g. one kept in docs/results/)."""
    from weightaug.experiments.report import report_folder

    stdout.print(report_folder(folder))
    console.print(f"table and plot in {folder}/")


@main.command()
@click.argument("folders", nargs=-1, required=True, type=PATH)
@click.option("--out", type=PATH, required=True, help="A new folder for the joined results.")
def merge(folders: tuple[str, ...], out: str) -> None:
    """Join one experiment's results from several --out folders (e.g. separate jobs, other machines) into one
    results.json, table and plot; the settings must agree. The joined folder resumes like any other."""
    from weightaug.experiments import merge_results

    path = merge_results(list(folders), out)
    stdout.print((path / "table.md").read_text())
    console.print(f"results, table and plot in {path}/")


@main.command("experiments")
def list_experiments() -> None:
    """The experiment configs and data presets."""
    from weightaug.experiments import experiments
    from weightaug.experiments.config import describe

    rows = [(name, *(d := describe(name))[:1], ", ".join(d[1])) for name in experiments()]
    stdout.print(
        _table("experiments (weightaug experiment NAME --preset PRESET)", ("name", "what it measures", "presets"), rows)
    )
    stdout.print(
        _table("presets", ("name", "data and recipe"), ((k, p.get("description", "")) for k, p in presets().items()))
    )


@main.group("was")
def was_group() -> None:
    """Shadow-weight training (the Weight Augmentation Strategy) for image classifiers."""


@was_group.command("train")
@fields(train_image_model, *list(inspect.signature(train_image_model).parameters)[1:])
@click.option("--out", type=PATH, required=True)
def was_train(**options) -> None:
    """Train an image classifier plainly (--transform none) or with shadow weights; resumes from --out."""
    _print_best(train_image_model(**options), options["out"])


@was_group.command("transforms")
def was_transforms() -> None:
    """The shadow-weight transforms by name."""
    from weightaug.was import TRANSFORMS, build_transform

    rows = ((name, repr(build_transform(name))) for name in TRANSFORMS)
    stdout.print(_table("shadow-weight transforms", ("name", "transform (defaults)"), rows))


if __name__ == "__main__":
    main()
