import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from conftest import needs_fmnist
from weightaug.cli import main
from weightaug.experiments import ConfigError, experiments, load_config, presets, run_experiment
from weightaug.experiments.kinds import KINDS, ensure_dataset
from weightaug.experiments.runner import checkpoint_path

TINY = {  # every preset shrunk to seconds: the same code path as the real runs
    "train_size": 40,
    "val_size": 20,
    "test_size": 20,
    "fit_steps": 20,
    "epochs": 2,
    "batch_size": 16,
    "seeds": [0],
}
TINY_MODELS = {"models": ["dwsnet"], "pixel_models": ["pixel-mlp"]}


def tiny(name: str, preset: str) -> dict:
    cfg = load_config(name, preset)
    out = {**TINY, **TINY_MODELS, "views": [1, 2] if isinstance(cfg.views, list) else min(cfg.views, 2)}
    if cfg.kind == "augmentations":
        out["variants"] = ["none", "siren_negation", "mixup_align"]
    if cfg.kind == "views-vs-data":
        out["train_fractions"] = [0.5, 1.0]
    if cfg.kind == "symmetries":
        out |= {"variants": ["none", "mixup"], "setups": ["position", "neuron/phase+medoid"]}
    return out


@pytest.mark.parametrize("name", [e for e in experiments() if e != "was"])
def test_each_experiment_runs_end_to_end_on_digits(name, tmp_path):
    out = run_experiment(
        name, "digits", tmp_path / name, tmp_path / "data", overrides=tiny(name, "digits"), progress=False
    )
    results = json.loads((out / "results.json").read_text())
    cfg = load_config(name, "digits", tiny(name, "digits"))
    n_runs = len(cfg.models) * len(cfg.variants) * len(cfg.view_list) * len(cfg.train_fractions) + 1
    if cfg.kind == "findings":  # no augmentation at each view count, each augmentation at one view
        n_runs = len(cfg.models) * (len(cfg.view_list) + len(cfg.variants) - 1) + 1
    if cfg.kind == "symmetries":  # and each setup
        n_runs = (n_runs - 1) * len(cfg.kind_settings.setups) + 1
    assert len(results["runs"]) == n_runs
    for run in results["runs"].values():
        epochs = max(1, round(2 / run["views"])) if cfg.kind_settings.equal_steps else 2  # equal steps: epochs / views
        assert len(run["history"]) == epochs and 0 <= run["best"]["test_acc"] <= 1
    table = (out / "table.md").read_text()
    assert "mean ± std" in table and "pixel-mlp" in table
    assert (out / f"{name}.png").stat().st_size > 1000
    assert not list((out / "checkpoints").iterdir())  # finished runs leave no checkpoint behind


def test_an_interrupted_experiment_resumes(tmp_path):
    overrides = tiny("augmentations", "digits")
    out = run_experiment(
        "augmentations", "digits", tmp_path / "a", tmp_path / "data", overrides=overrides, progress=False
    )
    results = json.loads((out / "results.json").read_text())
    first = next(iter(results["runs"]))
    kept = {first: results["runs"][first]}
    (out / "results.json").write_text(json.dumps({**results, "runs": kept}))  # as if killed after one run
    run_experiment("augmentations", "digits", out, tmp_path / "data", overrides=overrides, progress=False)
    again = json.loads((out / "results.json").read_text())
    assert again["runs"][first] == kept[first] and again["runs"].keys() == results["runs"].keys()
    for key, run in results["runs"].items():
        assert again["runs"][key]["history"] == run["history"], key  # the rerun runs compute the same


def test_fresh_discards_the_checkpoint_of_an_unfinished_run(tmp_path):
    overrides = {**tiny("augmentations", "digits"), "variants": ["none"]}
    stale = checkpoint_path(
        tmp_path / "a", KINDS["augmentations"].plan(load_config("augmentations", "digits", overrides))[0]
    )
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a killed run of older code")
    with pytest.raises(ValueError, match="is unreadable.*delete it"):  # a resumed run would start from it
        run_experiment(
            "augmentations", "digits", tmp_path / "a", tmp_path / "data", overrides=overrides, progress=False
        )
    out = run_experiment(
        "augmentations", "digits", tmp_path / "a", tmp_path / "data", overrides=overrides, progress=False, fresh=True
    )
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 2 and not stale.exists()


def test_results_written_before_a_setting_existed_resume_at_its_default(tmp_path):
    overrides = {**tiny("augmentations", "digits"), "variants": ["none"]}
    out = run_experiment(
        "augmentations", "digits", tmp_path / "a", tmp_path / "data", overrides=overrides, progress=False
    )
    stored = json.loads((out / "results.json").read_text())
    for key in ("optimizer", "schedule"):
        del stored["config"][key]  # as written before these settings existed
    (out / "results.json").write_text(json.dumps(stored))
    run_experiment("augmentations", "digits", out, tmp_path / "data", overrides=overrides, progress=False)
    with pytest.raises(FileExistsError, match="optimizer"):
        run_experiment(
            "augmentations",
            "digits",
            out,
            tmp_path / "data",
            overrides={**overrides, "optimizer": "adam"},
            progress=False,
        )


def test_fit_settings_choose_the_dataset_and_reach_its_inrs(tmp_path):
    small = {**TINY, "fit_steps": 5}
    ours = load_config("augmentations", "digits", small)
    peers = load_config("augmentations", "digits", {**small, "fit_lr": 5e-4, "output_offset": 0.5})
    a, b = (ensure_dataset(cfg, tmp_path, "cpu", progress=False) for cfg in (ours, peers))
    assert a.root != b.root
    assert (a.spec.output_offset, a.manifest["fit"]["lr"]) == (0.0, 5e-3)
    assert (b.spec.output_offset, b.manifest["fit"]["lr"]) == (0.5, 5e-4)
    assert ensure_dataset(peers, tmp_path, "cpu", progress=False).root == b.root  # shared, not fitted again


def test_an_experiment_grid_widens_and_other_settings_are_refused(tmp_path):
    overrides = {**tiny("augmentations", "digits"), "variants": ["none"], "pixel_models": []}
    out = run_experiment(
        "augmentations", "digits", tmp_path / "a", tmp_path / "data", overrides=overrides, progress=False
    )
    first = json.loads((out / "results.json").read_text())["runs"]
    wider = {**overrides, "variants": ["none", "siren_negation"], "seeds": [0, 1]}
    run_experiment("augmentations", "digits", out, tmp_path / "data", overrides=wider, progress=False)
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert len(runs) == 4 and all(runs[k] == v for k, v in first.items())  # the old run was kept, not rerun
    reworded = {**wider, "description": "reworded", "data_dir": str(tmp_path)}  # no setting: resumes
    run_experiment("augmentations", "digits", out, tmp_path / "data", overrides=reworded, progress=False)
    assert json.loads((out / "results.json").read_text())["runs"] == runs
    with pytest.raises(FileExistsError, match=r"other settings \(epochs\)"):
        run_experiment(
            "augmentations", "digits", out, tmp_path / "data", overrides={**wider, "epochs": 3}, progress=False
        )


def test_runs_side_by_side_merge_into_the_same_results_as_one_run(tmp_path):
    base = {**tiny("augmentations", "digits"), "pixel_models": []}
    both = run_experiment(
        "augmentations", "digits", tmp_path / "both", tmp_path / "data", overrides=base, progress=False
    )
    parts = []
    for i, variants in enumerate([["none"], ["siren_negation", "mixup_align"]]):
        parts.append(tmp_path / f"part{i}")
        run_experiment(
            "augmentations", "digits", parts[-1], tmp_path / "data", overrides={**base, "variants": variants},
            progress=False,
        )  # fmt: skip
    result = CliRunner().invoke(main, ["merge", *map(str, parts), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    merged, whole = (json.loads((p / "results.json").read_text()) for p in (tmp_path / "merged", both))
    assert merged["runs"].keys() == whole["runs"].keys()
    for key, run in whole["runs"].items():
        assert {**merged["runs"][key], "seconds": run["seconds"]} == run, key  # all but the wall time
    assert merged["config"]["variants"] == ["none", "siren_negation", "mixup_align"]
    assert (tmp_path / "merged" / "table.md").read_text() == (both / "table.md").read_text()
    run_experiment(  # the joined folder resumes as one experiment: nothing left to run
        "augmentations", "digits", tmp_path / "merged", tmp_path / "data", overrides=base, progress=False
    )
    assert json.loads((tmp_path / "merged" / "results.json").read_text())["runs"] == merged["runs"]

    again = CliRunner().invoke(main, ["merge", *map(str, parts), "--out", str(tmp_path / "merged")])
    assert again.exit_code == 2 and "already holds a results.json" in again.output
    other = run_experiment(
        "augmentations", "digits", tmp_path / "other", tmp_path / "data",
        overrides={**base, "variants": ["none"], "epochs": 1}, progress=False,
    )  # fmt: skip
    refused = CliRunner().invoke(main, ["merge", str(parts[0]), str(other), "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "differ in epochs" in refused.output
    rerun = json.loads((parts[0] / "results.json").read_text())
    next(iter(rerun["runs"].values()))["best_epoch"] = -5  # the same run with another result
    (tmp_path / "rerun").mkdir()
    (tmp_path / "rerun" / "results.json").write_text(json.dumps(rerun))
    clash = CliRunner().invoke(main, ["merge", str(parts[0]), str(tmp_path / "rerun"), "--out", str(tmp_path / "y")])
    assert clash.exit_code == 2 and "other results" in clash.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # a refused merge writes nothing


@needs_fmnist
@pytest.mark.parametrize("preset", ["fmnist-small", "fmnist-full"])
def test_fashion_mnist_presets_run_at_a_tiny_size(preset, tmp_path):
    overrides = tiny("augmentations", preset)
    out = run_experiment(
        "augmentations", preset, tmp_path / "x", tmp_path / "data", overrides=overrides, progress=False
    )
    assert "pixel-mlp" in (out / "table.md").read_text()


def test_presets_and_configs_load():
    assert {"digits", "fmnist-small", "fmnist-full"} <= set(presets())
    assert {"overfitting", "augmentations", "views-vs-data", "contrastive", "demo"} <= set(experiments())
    for name in experiments():
        for preset in presets():
            if (name == "was") == preset.startswith("was-"):
                load_config(name, preset)  # every shipped combination validates
    full = load_config("augmentations", "fmnist-full")
    assert "mixup_sign_align" in full.variants and full.views == 1 and full.epochs == 200


def test_symmetries_plan_no_symmetry_augmentation_on_canonical_inrs():
    cfg = load_config("symmetries", "digits", {"variants": ["none", "siren_negation"], "pixel_models": []})
    cells = {(run.variant, run.setup) for run in KINDS["symmetries"].plan(cfg)}
    assert ("siren_negation", "neuron") in cells and ("none", "neuron/phase+mean") in cells
    assert ("siren_negation", "neuron/phase+mean") not in cells


@pytest.mark.parametrize(
    ("name", "preset", "overrides", "message"),
    [
        ("augmentations", "digits", {"epochz": 3}, "unknown key.*epochz.*valid keys"),
        ("augmentations", "mnist-huge", {}, "unknown preset 'mnist-huge'"),
        ("nonsense", "digits", {}, "unknown experiment 'nonsense'"),
        ("augmentations", "digits", {"models": ["dwsnett"]}, "unknown model"),
        ("augmentations", "digits", {"variants": ["none", "mixup_algn"]}, "mixup_algn"),
        ("augmentations", "digits", {"seeds": []}, "must not be empty"),
        ("augmentations", "digits", {"optimizer": "adagrad"}, "optimizer must be one of adamw, adam, sgd"),
        ("augmentations", "digits", {"init": "peers"}, "init must be one of sitzmann, dwsnets, zero-bias"),
        ("augmentations", "digits", {"temperature": 0.2}, "temperature: not a setting of 'augmentations'.*normalise"),
        ("was", "was-fmnist-small", {"equal_steps": True}, "equal_steps: not a setting of 'was'.*recipes"),
        ("was", "was-fmnist-small", {"recipes": []}, "recipes must not be empty"),
        ("augmentations", "digits", {"normalise": "pixel"}, "normalise: choose one of neuron, position, layer"),
        ("augmentations", "digits", {"canonical": "phase+mode"}, "write phase, a template"),
        ("symmetries", "digits", {"setups": ["neuron/sorted"]}, "write phase, a template"),
        ("symmetries", "digits", {"setups": ["batch"]}, "setup 'batch': the normaliser must be one of"),
        ("symmetries", "digits", {"canonical": "phase"}, "give the canonical forms in setups"),
        ("symmetries", "digits", {"setups": []}, "setups must not be empty"),
        (
            "augmentations",
            "digits",
            {"canonical": "mean", "variants": ["none", "rotate,permutation"]},
            "variant 'rotate,permutation' with canonical=mean: NeuronPermutation applies the permutation symmetry",
        ),
    ],
)
def test_config_errors_are_clear(name, preset, overrides, message):
    with pytest.raises((ConfigError, ValueError), match=message):
        load_config(name, preset, overrides)


def test_bad_input_fails_before_any_training(tmp_path):
    # an empty split: refused while planning the dataset, before fitting or training
    with pytest.raises(ValueError, match="empty"):
        run_experiment(
            "augmentations",
            "digits",
            tmp_path / "e",
            tmp_path / "data",
            overrides={**tiny("augmentations", "digits"), "test_size": 0},
            progress=False,
        )
    assert not (tmp_path / "e" / "results.json").exists()
    # a dataset directory that is not a weightaug dataset
    (tmp_path / "junk").mkdir()
    r = CliRunner().invoke(main, ["train", str(tmp_path / "junk"), "--out", str(tmp_path / "t")])
    assert r.exit_code == 2 and "is not a weightaug INR dataset" in r.output


def test_demo_runs_from_the_cli_at_a_tiny_size(tmp_path):
    settings = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]
    args = ["demo", "--out", str(tmp_path / "demo"), "--data-root", str(tmp_path / "data"), *settings]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "1 view" in r.output and "4 views" in r.output and "pixel-mlp" in r.output
    assert "1 view + siren_negation" in r.output and "1 view + mixup_sign_align" in r.output
    assert "Findings" in r.output and "seed spread" in r.output
    assert (tmp_path / "demo" / "demo.png").is_file()
    stored = json.loads((tmp_path / "demo" / "results.json").read_text())
    stored["runs"]["planted"] = next(iter(stored["runs"].values()))
    (tmp_path / "demo" / "results.json").write_text(json.dumps(stored))
    r = CliRunner().invoke(main, args)  # a second demo measures again rather than printing stored figures
    assert r.exit_code == 0, r.output
    assert "planted" not in json.loads((tmp_path / "demo" / "results.json").read_text())["runs"]


def test_train_command_is_reproducible_from_its_seed(tmp_path, small_dataset):
    args = ["train", str(small_dataset), "--model", "mlp", "--augment", "noise", "--epochs", "2", "--batch-size", "8"]
    histories = []
    for out in ("a", "b"):
        torch.randn(7)  # the global RNG is elsewhere: the seed alone must decide the model's init
        r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / out)])
        assert r.exit_code == 0, r.output
        record = json.loads((tmp_path / out / "results.json").read_text())
        assert len(record["history"]) == 2 and (tmp_path / out / "curves.png").is_file()
        histories.append(record["history"])
    assert histories[0] == histories[1]


def test_was_experiment_runs_end_to_end_at_a_tiny_size(tmp_path):
    overrides = {**TINY, "source": "digits", "train_size": 300, "val_size": 100, "test_size": 100}
    overrides["variants"] = ["none", "paper", "dropconnect"]
    out = run_experiment("was", "was-fmnist-small", tmp_path / "was", overrides=overrides, progress=False)
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 3 * 2  # variants x recipes (one seed)
    shadow = [r for r in results["runs"].values() if r["variant"] != "none"]
    assert all("shadow_test_acc" in r["best"] for r in shadow)
    paper = [r["best"] for r in shadow if r["variant"] == "paper"]
    assert all(0.6 < b["dom_flops_ratio"] < 0.75 and "dom_test_acc" in b for b in paper)  # a third of 3x3 cut
    sweeps = [r["final"]["dom_sweep"] for r in shadow if r["variant"] == "paper"]
    assert len(sweeps) == 2 and all(len(rows) == 8 for rows in sweeps)  # the eight one-pixel shifts
    assert {round(row["dom_flops_ratio"], 3) for row in sweeps[0]} == {
        round(paper[0]["dom_flops_ratio"], 3),
        round(sweeps[0][4]["dom_flops_ratio"], 3),
    }
    assert sweeps[0][4]["dom_flops_ratio"] < sweeps[0][0]["dom_flops_ratio"]  # a row and a column cut: fewer
    assert all("final" not in r or not r["final"] for r in results["runs"].values() if r["variant"] != "paper")
    table = (out / "table.md").read_text()
    assert "weak recipe" in table and "strong recipe" in table and "shadow mode" in table
    assert "FLOPs, chosen on validation" in table and "chosen, BatchNorm recalibrated" in table
    with pytest.raises(ConfigError, match="does not run at preset 'digits'"):
        load_config("was", "digits")


@needs_fmnist
def test_the_architecture_preset_pads_fashion_mnist_and_trains_the_public_codes_layers(tmp_path):
    overrides = {**TINY, "train_size": 32, "val_size": 16, "test_size": 16, "epochs": 1, "variants": ["paper"]}
    overrides["models"] = ["vgg16"]  # ResNet-18's frozen shifts are tested in test_was, the sweep on small_cnn
    r = CliRunner().invoke(
        main,
        ["experiment", "was", "--preset", "was-fmnist-arch", "--out", str(tmp_path / "arch")]
        + [a for k, v in overrides.items() for a in ("--set", f"{k}={json.dumps(v)}")],
    )
    assert r.exit_code == 0, r.output
    results = json.loads((tmp_path / "arch" / "results.json").read_text())
    assert results["config"]["image_size"] == 32 and results["config"]["layers"] == "paper"
    assert load_config("was", "was-fmnist-arch").variants == ["none", "paper", "noise"]
    (run,) = results["runs"].values()
    assert run["history"][0]["trainbn_test_acc"] >= 0 and "recal_val_acc" in run["history"][0]
    assert not run["final"]  # VGG-16 in the public code: crop only, no shift to freeze


def test_images_pad_centred_to_the_size_asked():
    from weightaug.was.train import image_data, pad_to

    x = torch.ones(2, 1, 28, 28)
    padded = pad_to(x, 32)
    assert padded.shape == (2, 1, 32, 32) and padded.sum() == x.sum()
    assert padded[..., 2:30, 2:30].eq(1).all() and padded[..., :2, :].eq(0).all()
    images, _, _ = image_data("digits", train_size=10, val_size=5, test_size=5, image_size=11)
    assert images["train"].shape[-2:] == (11, 11) and images["train"][..., 1:9, 1:9].sum() > 0
    with pytest.raises(ValueError, match="image_size 6 is smaller than the digits images"):
        image_data("digits", image_size=6)


def test_was_train_command(tmp_path):
    args = ["was", "train", "--data", "digits", "--epochs", "1", "--train-size", "200", "--val-size", "100"]
    r = CliRunner().invoke(main, [*args, "--transform", "translate", "--out", str(tmp_path / "w")])
    assert r.exit_code == 0, r.output
    assert "shadow mode" in r.output and (tmp_path / "w" / "curves.png").is_file()
    assert "BatchNorm recalibrated" in r.output and "train-mode BatchNorm at the best test epoch" in r.output
    r = CliRunner().invoke(main, [*args, "--layers", "paper", "--scale-init", "uniform", "--out", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "p" / "results.json").read_text())["layers"] == "paper"
    r = CliRunner().invoke(main, [*args, "--transform", "twist", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown weight transform 'twist'" in r.output


def test_models_take_their_settings_from_the_experiment(tmp_path, small_dataset):
    overrides = {**tiny("augmentations", "digits"), "variants": ["none"], "pixel_models": []}
    overrides["models"] = ["dwsnet:hidden=8:n_layers=1", "mlp:hidden=32"]
    out = run_experiment(
        "augmentations", "digits", tmp_path / "e", tmp_path / "data", overrides=overrides, progress=False
    )
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert sorted(r["model"] for r in runs.values()) == ["dwsnet:hidden=8:n_layers=1", "mlp:hidden=32"]
    assert "dwsnet:hidden=8:n_layers=1" in (out / "table.md").read_text()
    with pytest.raises(ConfigError, match=r"dwsnet: bad parameter 'width=8'; .*hidden, n_layers"):
        load_config("augmentations", "digits", {"models": ["dwsnet:width=8"]})
    with pytest.raises(ConfigError, match="dwsnet: parameter hidden expects an integer"):
        load_config("augmentations", "digits", {"models": ["dwsnet:hidden=wide"]})
    args = ["train", str(small_dataset), "--model", "dwsnet:hidden=4", "--epochs", "1", "--out", str(tmp_path / "t")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, [*args[:3], "dwsnett:hidden=4", *args[4:]])
    assert r.exit_code == 2 and "choose from mlp, dwsnet" in r.output


KEPT = sorted(p.parent for p in (Path(__file__).parent.parent / "docs" / "results").glob("*/table.md"))


@pytest.mark.parametrize("folder", KEPT, ids=[p.name for p in KEPT])
def test_report_renders_every_kept_table_again(tmp_path, folder):
    """Every table kept under docs/results/ is what `weightaug report` renders from its results.json."""
    import shutil

    kept = tmp_path / "kept"
    shutil.copytree(folder, kept)
    table = (kept / "table.md").read_text()
    (kept / "table.md").unlink()
    for plot in kept.glob("*.png"):
        plot.unlink()
    r = CliRunner().invoke(main, ["report", str(kept)])
    assert r.exit_code == 0, r.output
    assert (kept / "table.md").read_text() == table
    drawn = {p.name for p in kept.glob("*.png") if p.stat().st_size > 1000}
    assert drawn and drawn >= {p.name for p in folder.glob("*.png")}


def test_report_refuses_a_folder_without_results(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "holds no results.json" in r.output
