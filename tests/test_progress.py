from weightaug.progress import progress_bar


def test_progress_is_written_to_a_log_off_a_terminal(capsys):
    with progress_bar() as bar:
        task = bar.add_task("training", total=3, note="")
        for epoch in range(3):
            bar.update(task, completed=epoch + 1, note=f"val_acc 0.{epoch}")
    err = capsys.readouterr().err
    assert "1/3 val_acc 0.0" in err  # the first update is written at once
    assert "2/3" not in err  # later ones at most every LOG_INTERVAL_S
    assert "3/3 val_acc 0.2" in err  # the finished state, when the bar stops


def test_a_disabled_progress_writes_nothing(capsys):
    with progress_bar(enabled=False) as bar:
        bar.update(bar.add_task("fitting", total=2, note=""), advance=2)
    assert capsys.readouterr().err == ""
