import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from weightaug.cli import main

TINY = [
    "--source",
    "digits",
    "--train-size",
    "6",
    "--val-size",
    "3",
    "--test-size",
    "4",
    "--steps",
    "40",
    "--hidden",
    "8,8",
]


def test_fit_info_render_and_refusal(tmp_path):
    out = tmp_path / "ds"
    runner = CliRunner()
    r = runner.invoke(main, ["fit", *TINY, "--views", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["info", str(out), "--json"])
    summary = json.loads(r.stdout)
    assert summary["splits"]["train"]["inrs"] == 12 and summary["splits"]["train"]["per_view"] == [6, 6]
    assert summary["n_params"] == 8 * 2 + 8 + 8 * 8 + 8 + 8 + 1
    r = runner.invoke(main, ["render", str(out), "--out", str(tmp_path / "grid.png"), "-n", "3"])
    assert r.exit_code == 0 and (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    r = runner.invoke(main, ["fit", *TINY, "--views", "3", "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_dry_run_writes_nothing(tmp_path):
    r = CliRunner().invoke(main, ["fit", *TINY, "--out", str(tmp_path / "dry"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would take about" in r.output and not (tmp_path / "dry").exists()


def test_missing_data_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(
        main, ["fit", "--source", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2 and "were not found" in r.output and "--download" in r.output


def test_models_and_augmentations_listings():
    runner = CliRunner()
    result = runner.invoke(main, ["models", "--hidden", "16,16"])
    assert result.exit_code == 0, result.output
    for name in ("mlp", "dwsnet", "nfn", "graph", "transformer"):
        assert name in result.output
    assert "2-16-16-1" in result.output
    result = runner.invoke(main, ["augmentations"])
    assert result.exit_code == 0 and "mixup_sign_align" in result.output and "full pipeline" in result.output


def _commands(group, prefix=()):
    """Every command path of the CLI: ("fit",), ("was", "train"), ..."""
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))


def test_every_listing_names_what_its_registry_holds():
    from weightaug.augment.registry import REGISTRY
    from weightaug.experiments import experiments, presets
    from weightaug.models import MODELS
    from weightaug.was import TRANSFORMS

    runner = CliRunner()
    for verb, names in (
        (["experiments"], [*experiments(), *presets()]),
        (["models"], list(MODELS)),
        (["augmentations"], list(REGISTRY)),
        (["was", "transforms"], list(TRANSFORMS)),
    ):
        r = runner.invoke(main, verb, terminal_width=200)
        assert r.exit_code == 0, (verb, r.output)
        missing = [n for n in names if n not in r.output]
        assert not missing, (verb, missing)
    r = runner.invoke(main, ["experiments"], terminal_width=200)
    was_line = next(line for line in r.output.splitlines() if line.strip("│ ").startswith("was "))
    assert "was-fmnist-small" in was_line and "digits" not in was_line  # each experiment with its presets


def test_every_verb_has_help():
    runner = CliRunner()
    paths = list(_commands(main))
    assert ("was", "train") in paths and ("import",) in paths
    for path in paths:
        r = runner.invoke(main, [*path, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output, (path, r.output)


def test_choices_come_from_the_registries():
    from weightaug.experiments import presets
    from weightaug.models import MODELS
    from weightaug.models.normalize import NORMALISERS
    from weightaug.train.contrastive import POSITIVES
    from weightaug.was.models import IMAGE_MODELS
    from weightaug.was.train import RECIPES

    def choices(path, option):
        cmd = main
        for name in path:
            cmd = cmd.commands[name]
        return list(next(p for p in cmd.params if p.name == option).type.choices)

    assert choices(["train"], "model") == list(MODELS)
    assert choices(["train"], "normalise") == list(NORMALISERS)
    assert choices(["train"], "contrastive") == list(POSITIVES)
    assert choices(["experiment"], "preset") == list(presets())
    assert choices(["was", "train"], "model") == list(IMAGE_MODELS)
    assert choices(["was", "train"], "recipe") == list(RECIPES)


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "--out", "o", "--shard-size", "0"],
        ["fit", "--out", "o", "--chunk-size", "0"],
        ["fit", "--out", "o", "--steps", "-1"],
        ["fit", "--out", "o", "--views", "0"],
        ["fit", "--out", "o", "--train-size", "0"],
        ["fit", "--out", "o", "--input-views", "-1"],
        ["was", "train", "--out", "o", "--epochs", "0"],
        ["was", "train", "--out", "o", "--batch-size", "0"],
    ],
)
def test_sizes_reject_zero_and_negatives_at_parse_time(args, tmp_path):
    r = CliRunner().invoke(main, [a.replace("o", str(tmp_path / "o")) if a == "o" else a for a in args])
    assert r.exit_code == 2 and "Invalid value" in r.output, r.output
    assert not (tmp_path / "o").exists()


def test_python_dash_m_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "weightaug", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Usage: weightaug" in r.stdout, r.stderr
