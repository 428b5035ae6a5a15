"""The weightaug command line: a thin front over the library (parse, call, print)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from weightaug.data.sources import SOURCES, load_source
from weightaug.experiments.config import presets
from weightaug.inr.build import INPUT_TRANSFORMS, SplitConfig, build_dataset, estimate_fit, plan_build
from weightaug.inr.fit import FitConfig, FitDivergedError
from weightaug.inr.init import INITS
from weightaug.inr.render import fit_quality_warning
from weightaug.inr.store import SPLITS, INRDataset
from weightaug.kernels import keep_freed_memory
from weightaug.models import MODELS
from weightaug.models.normalize import NORMALISERS
from weightaug.progress import LOG_WIDTH, console, progress_bar
from weightaug.train.contrastive import POSITIVES
from weightaug.train.loop import OPTIMIZERS, SCHEDULES, TrainConfig
from weightaug.was.models import IMAGE_MODELS
from weightaug.was.train import RECIPES
from weightaug.weights import ACTIVATIONS, NetworkSpec

stdout = Console(width=None if sys.stdout.isatty() else LOG_WIDTH)
USER_ERRORS = (  # what a user's input or files can cause: printed as one line, exit 2
    ValueError,  # bad options and configs, unusable datasets and files (ConfigError, DatasetError, ...)
    OSError,  # missing data (DataNotFoundError), refused overwrites, writes that fail (weightaug.io.WriteError)
    FitDivergedError,
    FloatingPointError,
)


class RegistryChoice(click.ParamType):
    """``name`` or ``name:key=value:...`` with ``name`` one of ``choices`` (the parameters are checked where the
    registry builds the thing)."""

    name = "name[:key=value]"

    def __init__(self, choices) -> None:
        self.choices = list(choices)

    def convert(self, value, param, ctx):
        if value.split(":")[0] not in self.choices:
            self.fail(f"{value!r}: choose from {', '.join(self.choices)} (parameters as name:key=value)", param, ctx)
        return value


POSITIVE = click.IntRange(min=1)
COUNT = click.IntRange(min=0)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as e:
            console.print(f"[red]error:[/red] {e}")
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="weightaug")
def main() -> None:
    """weightaug: INR datasets, weight-space augmentation and shadow-weight training."""
    keep_freed_memory()


def _widths(_ctx, _param, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(h) for h in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers such as 32,32, got {value!r}") from None


def _csv(_ctx, _param, value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


@main.command()
@click.option(
    "--source", type=click.Choice(SOURCES), default="digits", show_default=True, help="Image dataset to fit INRs to."
)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder holding the source's files.")
@click.option("--download", is_flag=True, help="Download the source if it is not found (needs internet).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset directory.")
@click.option("--views", type=POSITIVE, default=1, show_default=True, help="Independent fits per training object.")
@click.option("--eval-views", type=POSITIVE, default=1, show_default=True, help="Fits per validation/test object.")
@click.option(
    "--input-views",
    type=COUNT,
    default=0,
    show_default=True,
    help="Extra training fits of randomly transformed images.",
)
@click.option(
    "--input-transforms",
    default=",".join(INPUT_TRANSFORMS),
    show_default=True,
    callback=_csv,
    help="Transforms for --input-views.",
)
@click.option("--train-size", type=POSITIVE, default=None, help="Use only this many training objects.")
@click.option(
    "--val-size", type=POSITIVE, default=None, help="Validation objects (default: 5000 of the train set, or 15%)."
)
@click.option("--test-size", type=POSITIVE, default=None, help="Use only this many test objects.")
@click.option("--hidden", default="32,32", show_default=True, callback=_widths, help="Hidden layer widths.")
@click.option("--activation", type=click.Choice(ACTIVATIONS), default="sine", show_default=True)
@click.option("--w0", type=float, default=30.0, show_default=True, help="SIREN frequency factor.")
@click.option("--output-offset", type=float, default=0.5, show_default=True, help="Constant added to the output.")
@click.option("--steps", type=POSITIVE, default=FitConfig.steps, show_default=True, help="Maximum Adam steps per INR.")
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Adam's learning rate (default: from the architecture, 5e-3 for 32-32 hidden layers; see bench_fit_lr.py).",
)
@click.option(
    "--init",
    type=click.Choice(INITS),
    default="sitzmann",
    show_default=True,
    help="sitzmann: SIREN's. dwsnets: as the INRs of DWSNets and the official augmentation code. zero-bias: "
    "SIREN's rule on every layer, zero biases (weight-space models learn from these best: docs/RESULTS.md).",
)
@click.option(
    "--target-psnr",
    type=float,
    default=FitConfig.target_psnr,
    show_default=True,
    help="Stop each INR at this PSNR (0: never).",
)
@click.option(
    "--chunk-size",
    type=POSITIVE,
    default=FitConfig.chunk_size,
    show_default=True,
    help="INRs fitted together (a speed knob; recorded, as BLAS may round differently with it).",
)
@click.option(
    "--shard-size", type=POSITIVE, default=4096, show_default=True, help="INRs per file (the unit of resuming)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("--overwrite", is_flag=True, help="Replace an output directory of another configuration.")
@click.option(
    "--dry-run", is_flag=True, help="Fit a sample, print how long the whole fit would take here, write nothing."
)
def fit(
    source,
    data_dir,
    download,
    out,
    views,
    eval_views,
    input_views,
    input_transforms,
    train_size,
    val_size,
    test_size,
    hidden,
    activation,
    w0,
    output_offset,
    steps,
    lr,
    init,
    target_psnr,
    chunk_size,
    shard_size,
    seed,
    device,
    overwrite,
    dry_run,
) -> None:
    """Fit an INR dataset: several views per object, in batches, resumable; run the same command in several
    processes to fit it together."""
    src = load_source(source, data_dir, download)
    spec = NetworkSpec(
        hidden=hidden,
        out_dim=src.shape[0],
        activation=activation,
        w0=w0,
        output_offset=output_offset,
    )
    cfg = FitConfig(steps=steps, lr=lr, init=init, target_psnr=target_psnr or None, chunk_size=chunk_size)
    splits = SplitConfig(
        seed=seed,
        train_size=train_size,
        val_size=val_size,
        test_size=test_size,
        views=views,
        eval_views=eval_views,
        input_views=input_views,
        input_transforms=input_transforms,
    )
    info = {"data_dir": data_dir} if data_dir else {}
    plan = plan_build(src, spec, cfg, splits, shard_size, info)
    split_line = ", ".join(f"{k} {v['objects']} x {v['views']} views" for k, v in plan.config["splits"].items())
    console.print(
        f"[bold]{src.name}[/bold] -> {out}: {plan.n_items} INRs ({split_line}), spec {spec.widths}, {spec.n_params} params each, lr {plan.config['fit']['lr']:.2g}"
    )
    if dry_run:
        est = estimate_fit(src, spec, cfg, splits, device)
        console.print(
            f"dry run: {est.sampled} INRs fitted in {est.seconds:.1f} s ({est.inrs_per_second:.1f} INRs/s, mean PSNR "
            f"{est.mean_psnr:.1f} dB); the whole fit of {est.total_items} INRs would take about "
            f"{_duration(est.total_seconds)} here"
        )
        return
    with progress_bar(rate=True) as bar:
        task = bar.add_task("fitting", total=plan.n_items, note="")
        totals = {"n": 0, "sum": 0.0}

        def update(n: int, psnr: torch.Tensor) -> None:
            if psnr.numel():
                totals["n"] += psnr.numel()
                totals["sum"] += psnr.sum().item()
            bar.update(
                task, advance=n, note=f"mean PSNR {totals['sum'] / max(totals['n'], 1):.1f} dB" if totals["n"] else ""
            )

        root = build_dataset(out, src, spec, cfg, splits, shard_size, overwrite, info, device, update)
    _print_summary(INRDataset(root))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _print_summary(ds: INRDataset, as_json: bool = False) -> None:
    from weightaug.inr.render import summary

    s = summary(ds)
    if as_json:
        click.echo(json.dumps(s, indent=1))
        return
    spec = ds.spec
    out = stdout
    out.print(
        f"[bold]{s['root']}[/bold]: source {s['source']['name']}, spec {spec.widths} {spec.activation} w0={spec.w0:g} offset={spec.output_offset:g}, {s['n_params']} params per INR"
    )
    if s["source"]["name"] == "imported":
        roots = "; ".join(f"{a} -> {b}" for a, b in s["source"].get("roots", {}).items())
        out.print(f"imported from {s['source']['from']}" + (f", absolute paths re-rooted: {roots}" if roots else ""))
    table = Table(
        "split", "objects", "INRs", "INRs per view", "PSNR mean ± std", "min", "p10", "median", "p90", "reached target"
    )
    for name, d in s["splits"].items():
        p = d["psnr"]
        cells = (
            [f"{p['mean']:.2f} ± {p['std']:.2f}", *(f"{p[k]:.2f}" for k in ("min", "p10", "median", "p90"))]
            if p
            else ["n/a"] * 5
        )
        reached = f"{100 * p['reached_target']:.1f}%" if "reached_target" in p else "-"
        table.add_row(name, str(d["objects"]), str(d["inrs"]), " ".join(map(str, d["per_view"])), *cells, reached)
    out.print(table)
    warning = fit_quality_warning(ds)
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@main.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(dataset: str, as_json: bool) -> None:
    """Counts per split and view, PSNR distribution and spec of an INR dataset."""
    _print_summary(INRDataset(dataset), as_json)


@main.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("-n", "n", type=POSITIVE, default=8, show_default=True, help="Number of objects.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where the source images are, for the originals row.",
)
def render(dataset: str, out: str, split: str, n: int, data_dir: str | None) -> None:
    """Reconstructions of an INR dataset next to the original images, as a PNG grid."""
    from weightaug.inr.render import render_grid

    path = render_grid(INRDataset(dataset), out, split, n, data_dir=data_dir)
    console.print(f"wrote {path}")


@main.command("import")
@click.argument("splits_json", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output dataset directory.")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder the JSON's paths are relative to, and under which absolute paths of another machine are "
    "re-rooted (default: the working folder, the JSON's folder and its parent).",
)
@click.option("--multiview", is_flag=True, help="Paths are .../<view>/<folder>/<file> (the official multiview data).")
@click.option("--w0", type=float, default=30.0, show_default=True)
@click.option(
    "--output-offset", type=float, default=0.5, show_default=True, help="The peers' INRs add 0.5 to their output."
)
@click.option(
    "--image-size", type=POSITIVE, default=28, show_default=True, help="Side of the images (MNIST 28, CIFAR 32)."
)
@click.option("--overwrite", is_flag=True, help="Replace --out (swapped in only when the import succeeded).")
def import_(
    splits_json: str,
    out: str,
    root: str | None,
    multiview: bool,
    w0: float,
    output_offset: float,
    image_size: int,
    overwrite: bool,
) -> None:
    """Import a peer-format INR dataset (torch state_dict files with a label, plus a splits JSON)."""
    from weightaug.inr.importer import import_peer_dataset

    with progress_bar(rate=True) as bar:
        task = bar.add_task("importing", total=None, note="")
        root_dir = import_peer_dataset(
            splits_json,
            out,
            root,
            multiview,
            w0,
            output_offset,
            image_size,
            overwrite=overwrite,
            progress=lambda n: bar.update(task, advance=n),
        )
    _print_summary(INRDataset(root_dir))


@main.command()
@click.option(
    "--hidden", default="32,32", show_default=True, callback=_widths, help="Hidden widths of the INRs the models read."
)
@click.option("--in-dim", type=POSITIVE, default=2, show_default=True)
@click.option("--out-dim", type=POSITIVE, default=1, show_default=True)
@click.option("--classes", type=POSITIVE, default=10, show_default=True)
def models(hidden: tuple[int, ...], in_dim: int, out_dim: int, classes: int) -> None:
    """The weight-space models at their presets: parameters for INRs of this spec, and what each is."""
    from weightaug.models import MODELS, build_model, n_parameters
    from weightaug.registry import parameters

    spec = NetworkSpec(in_dim=in_dim, hidden=hidden, out_dim=out_dim)
    table = Table(title=f"weight-space models for INRs {'-'.join(map(str, spec.widths))}, {classes} classes")
    for column in ("name", "weights", "invariant", "description", "settings (name:key=value)"):
        table.add_column(column, justify="right" if column == "weights" else "left")
    for name, cls in MODELS.items():
        n = n_parameters(build_model(name, spec, classes))
        settings = " ".join(f"{k}={v}" for k, v in parameters(cls, ("spec", "n_classes")).items())
        table.add_row(name, f"{n:,}", "yes" if cls.invariant else "no", cls.description, settings)
    stdout.print(table)


@main.command()
def augmentations() -> None:
    """The augmentations by name, as --augment and the Python registry take them."""
    from weightaug.augment.registry import FULL_PIPELINE, describe

    table = Table(title="augmentations (name:key=value sets a parameter)")
    table.add_column("name")
    table.add_column("what it does")
    for name, text in describe().items():
        table.add_row(name, text)
    out = stdout
    out.print(table)
    out.print(f"full pipeline: {FULL_PIPELINE}")


def _setting(text: str) -> tuple[str, object]:
    """``key=value`` with a TOML value (``epochs=5``, ``models=["dwsnet"]``); bare words are strings."""
    from weightaug.experiments.config import tomllib  # tomli on Python 3.10

    key, sep, value = text.partition("=")
    if not sep:
        raise click.BadParameter(f"expected key=value, got {text!r}")
    try:
        return key.strip(), tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value


def _experiment_options(f):
    """--data-root, --device and --set, shared by demo and experiment."""
    f = click.option(
        "--set",
        "settings",
        multiple=True,
        callback=lambda _c, _p, v: dict(map(_setting, v)),
        help="key=value over the config, e.g. --set epochs=5 (TOML values).",
    )(f)
    f = click.option("--device", default="cpu", show_default=True, help="cpu or cuda (bfloat16 autocast on CUDA).")(f)
    return click.option("--data-root", type=click.Path(file_okay=False), default="runs/data", show_default=True)(f)


def _run_and_report(name: str, preset: str, out, data_root: str, device: str, settings: dict, fresh: bool) -> None:
    from weightaug.experiments import load_config, run_experiment

    cfg = load_config(name, preset, settings)  # config errors before anything is touched
    out = Path(out or Path("runs/experiments") / f"{name}-{preset}")
    console.print(f"[bold]{name}[/bold] at preset [bold]{preset}[/bold]: {cfg.description}")
    path = run_experiment(name, preset, out, data_root, device, settings, fresh=fresh)
    stdout.print((path / "table.md").read_text())
    console.print(f"results, table and plot in {path}/ (results.json, table.md, {name}.png)")


def _choice_of(flag: str, table: dict[str, str], default: str):
    """An option choosing a key of ``table``, whose help lists each key with its description."""
    return click.option(
        flag,
        type=click.Choice(list(table)),
        default=default,
        show_default=True,
        help="; ".join(f"{k}: {v}" for k, v in table.items()),
    )


@main.command("train")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--model",
    type=RegistryChoice(MODELS),
    default="dwsnet",
    show_default=True,
    help=f"{', '.join(MODELS)}; parameters by name, e.g. dwsnet:hidden=32 (see `weightaug models`).",
)
@click.option(
    "--augment",
    default="none",
    show_default=True,
    help="Augmentations, e.g. siren_negation,mixup_align (see `weightaug augmentations`).",
)
@click.option("--views", type=POSITIVE, default=None, help="Train on the first N views per object (default: all).")
@click.option(
    "--contrastive",
    type=click.Choice(POSITIVES),
    default=None,
    help="SimCLR with these positives, then a linear probe.",
)
@click.option("--epochs", type=POSITIVE, default=TrainConfig.epochs, show_default=True)
@click.option("--batch-size", type=POSITIVE, default=TrainConfig.batch_size, show_default=True)
@click.option("--lr", type=float, default=TrainConfig.lr, show_default=True)
@click.option("--weight-decay", type=float, default=TrainConfig.weight_decay, show_default=True)
@_choice_of("--optimizer", OPTIMIZERS, TrainConfig.optimizer)
@_choice_of("--schedule", SCHEDULES, TrainConfig.schedule)
@_choice_of("--normalise", NORMALISERS, "position")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (bfloat16 autocast on CUDA).")
@click.option(
    "--out", type=click.Path(file_okay=False), required=True, help="Folder for checkpoint, results and curves."
)
def train_command(
    dataset,
    model,
    augment,
    views,
    contrastive,
    epochs,
    batch_size,
    lr,
    weight_decay,
    optimizer,
    schedule,
    normalise,
    seed,
    device,
    out,
) -> None:
    """Train one weight-space model on an INR dataset (resumes from --out/checkpoint.pt)."""
    from weightaug.experiments.single import train_inr_model

    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        device=device,
        optimizer=optimizer,
        schedule=schedule,
    )
    augment = None if augment == "none" else augment
    result = train_inr_model(dataset, out, cfg, model, augment, views, contrastive, normalise)
    best = result.best
    stdout.print(
        f"best epoch {result.best_epoch}: val {100 * best.get('val_acc', 0):.2f}%, test {100 * best.get('test_acc', 0):.2f}% "
        f"({result.seconds:.0f} s); results.json and curves.png in {out}"
    )


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@_experiment_options
def demo(out: str, data_root: str, device: str, settings: dict) -> None:
    """The main job, on the embedded digits: one view against four views per object, and at one view plain
    training against SIREN negation and sign-aware aligned MixUp, the pixel baseline beside them; prints the
    table and what it shows, and saves a plot (every figure measured in this run, about 5 minutes)."""
    _run_and_report("demo", "digits", out, data_root, device, settings, fresh=True)


@main.command()
@click.argument("name")
@click.option("--preset", type=click.Choice(list(presets())), default="digits", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Default runs/experiments/NAME-PRESET.")
@_experiment_options
@click.option("--fresh", is_flag=True, help="Discard earlier results and checkpoints in --out instead of resuming.")
def experiment(name: str, preset: str, out, data_root: str, device: str, settings: dict, fresh: bool) -> None:
    """Run (or resume) one of the paper's experiments; `weightaug experiments` lists them."""
    _run_and_report(name, preset, out, data_root, device, settings, fresh)


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
def report(folder: str) -> None:
    """Render an experiment's table.md and plot again from its results.json (e.g. one kept in docs/results/)."""
    from weightaug.experiments.report import report_folder

    stdout.print(report_folder(folder))
    console.print(f"table and plot in {folder}/")


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="A new folder for the joined results.")
def merge(folders: tuple[str, ...], out: str) -> None:
    """Join one experiment's results from several --out folders (e.g. processes run side by side) into one
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

    table = Table(title="experiments (weightaug experiment NAME --preset PRESET)")
    table.add_column("name")
    table.add_column("what it measures")
    table.add_column("presets")
    for name in experiments():
        description, at = describe(name)
        table.add_row(name, description, ", ".join(at))
    out = stdout
    out.print(table)
    table = Table(title="presets")
    table.add_column("name")
    table.add_column("data and recipe")
    for name, preset in presets().items():
        table.add_row(name, preset.get("description", ""))
    out.print(table)


@main.group("was")
def was_group() -> None:
    """Shadow-weight training (the Weight Augmentation Strategy) for image classifiers."""


@was_group.command("train")
@click.option("--model", type=click.Choice(list(IMAGE_MODELS)), default="small_cnn", show_default=True)
@click.option("--data", "source", type=click.Choice(SOURCES), default="fashion-mnist", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option(
    "--transform",
    default="paper",
    show_default=True,
    help="A shadow transform (see `weightaug was transforms`), or none.",
)
@click.option("--recipe", type=click.Choice(list(RECIPES)), default="strong", show_default=True)
@click.option("--epochs", type=POSITIVE, default=30, show_default=True)
@click.option("--batch-size", type=POSITIVE, default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Default: the recipe's.")
@click.option("--train-size", type=POSITIVE, default=None)
@click.option(
    "--val-size", type=POSITIVE, default=None, help="Validation images drawn from the training set (default 5000)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True)
def was_train(
    model, source, data_dir, transform, recipe, epochs, batch_size, lr, train_size, val_size, seed, device, out
) -> None:
    """Train an image classifier plainly (--transform none) or with shadow weights; resumes from --out."""
    from weightaug.experiments.single import train_image_model

    result = train_image_model(
        out, model, source, transform, recipe, epochs, batch_size, lr, data_dir, train_size, val_size, seed, device
    )
    best = result.best
    shadow = f", shadow mode {100 * best['shadow_test_acc']:.2f}%" if "shadow_test_acc" in best else ""
    if "dom_test_acc" in best:
        shadow += (
            f", desire-oriented {100 * best['dom_test_acc']:.2f}% at {100 * best['dom_flops_ratio']:.1f}% of the FLOPs"
        )
    stdout.print(
        f"best epoch {result.best_epoch}: test {100 * best['test_acc']:.2f}% (plain mode){shadow}; results in {out}"
    )


@was_group.command("transforms")
def was_transforms() -> None:
    """The shadow-weight transforms by name."""
    from weightaug.was import TRANSFORMS, build_transform

    table = Table(title="shadow-weight transforms")
    table.add_column("name")
    table.add_column("transform (defaults)")
    for name in TRANSFORMS:
        table.add_row(name, repr(build_transform(name)))
    stdout.print(table)


if __name__ == "__main__":
    main()
