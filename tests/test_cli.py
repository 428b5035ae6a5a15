import json

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
