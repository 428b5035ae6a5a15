import json

import pytest
import torch
from click.testing import CliRunner

from conftest import random_batch
from weightaug.cli import main
from weightaug.experiments.runner import run_experiment
from weightaug.inr.canonical import (
    CanonicalForm,
    CanonicalFormError,
    apply_form,
    build_template,
    canonical_phase,
    form_of,
    pair_similarity,
)
from weightaug.inr.store import INRDataset
from weightaug.symmetry import SignedPermutation, shift_biases
from weightaug.weights import NetworkSpec, mlp_forward

SPEC = NetworkSpec(hidden=(12, 10), output_offset=0.5)
GRID = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 21), torch.linspace(-1, 1, 21), indexing="ij"), -1).view(-1, 2)
FORMS = ["phase", "phase+mean", "phase+medoid", "mean", "medoid"]


def outputs(wb):
    return mlp_forward(wb.spec, wb.weights, wb.biases, GRID)


def fitted_like(n=40, seed=0):
    """Weights spread over several bias periods (as fitted INRs are) so that every symmetry has work to do."""
    return random_batch(SPEC, n, seed).map(lambda t: t * 4)


def orbit_move(wb, seed):
    """Each network replaced by another point of its orbit: signed permutations and bias shifts by k pi / w0."""
    g = torch.Generator().manual_seed(seed)
    moved = SignedPermutation.random(SPEC, len(wb), g, flip_prob=0.5).apply(wb)
    return shift_biases(moved, [torch.randint(-3, 4, (len(wb), n), generator=g) for n in SPEC.hidden])


def test_phase_form_keeps_the_function_and_puts_every_bias_in_its_interval():
    wb = fitted_like()
    canon = canonical_phase(wb)
    torch.testing.assert_close(outputs(canon), outputs(wb), rtol=0, atol=2e-5)
    for b in canon.biases[:-1]:
        assert b.min() >= 0 and b.max() <= torch.pi / (2 * SPEC.w0) + 1e-7
    assert canon.biases[-1].equal(wb.biases[-1])


@pytest.mark.parametrize("name", FORMS)
def test_every_form_keeps_the_function_and_gives_one_network_per_orbit(name):
    form = CanonicalForm.parse(name)
    wb = fitted_like()
    template = None if form.template == "none" else build_template(apply_form(wb, form, None), form)
    canon = apply_form(wb, form, template)
    torch.testing.assert_close(outputs(canon), outputs(wb), rtol=0, atol=2e-5)
    moved = orbit_move(wb, 1) if form.phase else SignedPermutation.random(SPEC, 40, flip_prob=0.5).apply(wb)
    assert (moved.flatten() - wb.flatten()).abs().max() > 0.1  # the move changes the weights
    torch.testing.assert_close(apply_form(moved, form, template).flatten(), canon.flatten(), rtol=0, atol=1e-5)


def test_matching_to_a_template_brings_networks_closer():
    wb = fitted_like(60)
    pairs = torch.randperm(60, generator=torch.Generator().manual_seed(0)).view(30, 2)
    before = pair_similarity(canonical_phase(wb), pairs).mean()
    form = CanonicalForm.parse("phase+mean")
    phased = apply_form(wb, form, None)
    after = pair_similarity(apply_form(wb, form, build_template(phased, form)), pairs).mean()
    assert after > before + 0.05


def test_bad_forms_are_one_line_errors():
    for text in ["phase+mean+medoid", "sorted", ""]:
        with pytest.raises(CanonicalFormError, match="write phase, a template"):
            CanonicalForm.parse(text)
    with pytest.raises(CanonicalFormError, match="iterations must be >= 1"):
        CanonicalForm.parse("mean", iterations=0)


def test_canonicalize_from_the_cli_then_train_on_it(tmp_path, small_dataset):
    out = tmp_path / "canon"
    runner = CliRunner()
    r = runner.invoke(main, ["canonicalize", str(small_dataset), "--out", str(out), "--iterations", "2"])
    assert r.exit_code == 0, r.output
    src, canon = INRDataset(small_dataset), INRDataset(out)
    assert canon.manifest["canonical"]["name"] == "phase+mean" and canon.manifest["canonical"]["iterations"] == 2
    assert f"canonical form phase+mean of {small_dataset}" in r.output  # the summary printed after writing
    for split in src.splits:
        a, b = src.split(split), canon.split(split)
        assert a.quality.equal(b.quality) and a.labels.equal(b.labels) and a.object_ids.equal(b.object_ids)
        torch.testing.assert_close(outputs(b.weights), outputs(a.weights), rtol=0, atol=2e-5)
        assert not b.weights.equal(a.weights)
    form, template = form_of(canon)  # new INRs into the same form: the stored ones come out as stored
    again = apply_form(src.split("test").weights, form, template)
    torch.testing.assert_close(again.flatten(), canon.split("test").weights.flatten(), rtol=0, atol=1e-6)
    with pytest.raises(CanonicalFormError, match="is not a canonical copy"):
        form_of(src)
    r = runner.invoke(main, ["canonicalize", str(small_dataset), "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = runner.invoke(main, ["canonicalize", str(small_dataset), "--out", str(small_dataset), "--overwrite"])
    assert r.exit_code == 2 and "is the source dataset" in r.output
    r = runner.invoke(main, ["canonicalize", str(small_dataset), "--out", str(tmp_path / "x"), "--form", "sorted"])
    assert r.exit_code == 2 and "write phase, a template" in r.output and not (tmp_path / "x").exists()
    train = ["train", str(out), "--out", str(tmp_path / "t"), "--model", "signgmn:d_node=8:n_layers=1",
             "--augment", "mixup", "--epochs", "2", "--batch-size", "8"]  # fmt: skip
    r = runner.invoke(main, train)
    assert r.exit_code == 0, r.output
    # a symmetry augmentation would move the training INRs off the form the test INRs are in: refused, nothing written
    refused = [*train[:2], "--out", str(tmp_path / "u"), *train[4:6], "--augment", "mixup,siren_negation"]
    r = runner.invoke(main, refused)
    assert r.exit_code == 2 and "SirenNegation applies the sign symmetry" in r.output and "(phase+mean)" in r.output
    assert not (tmp_path / "u").exists()


def test_an_experiment_canonicalises_its_dataset_once_and_reuses_it(tmp_path):
    settings = {"train_size": 30, "val_size": 10, "test_size": 10, "fit_steps": 20, "epochs": 1, "batch_size": 16,
                "seeds": [0], "models": ["signgmn:d_node=8:n_layers=1"], "pixel_models": [],
                "variants": ["none", "mixup"], "canonical": "phase+medoid"}  # fmt: skip
    first = run_experiment(
        "augmentations", "digits", tmp_path / "e", tmp_path / "data", overrides=settings, progress=False
    )
    made = sorted(p.name for p in (tmp_path / "data").iterdir())
    assert len(made) == 2 and made[1].startswith(made[0] + "-phase+medoid-")
    stamp = (tmp_path / "data" / made[1] / "manifest.json").stat().st_mtime_ns
    run_experiment("augmentations", "digits", tmp_path / "f", tmp_path / "data", overrides=settings, progress=False)
    assert (tmp_path / "data" / made[1] / "manifest.json").stat().st_mtime_ns == stamp
    results = json.loads((first / "results.json").read_text())
    assert results["config"]["canonical"] == "phase+medoid" and len(results["runs"]) == 2
    with pytest.raises(ValueError, match="write phase, a template"):
        run_experiment("augmentations", "digits", tmp_path / "g", tmp_path / "data",
                       overrides={**settings, "canonical": "sorted"}, progress=False)  # fmt: skip
