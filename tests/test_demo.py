"""The main job end to end: `retina-tf demo` in a small workdir."""

from retina_tf import cli


def test_demo_runs_and_leaves_its_artefacts(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert cli.main(["demo", "--workdir", str(workdir), "--photographs", "4"]) == 0
    out = capsys.readouterr().out
    assert (workdir / "e-ophtha" / "e_optha_EX" / "EX").is_dir()
    sheets = sorted((workdir / "normalised").glob("*.png"))
    assert sheets and all(sheet.stat().st_size > 10_000 for sheet in sheets)
    assert "Done." in out
