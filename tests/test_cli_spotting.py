"""`pfes spotting`: the project's proposal rules, shown and changed from the shell."""

import json

from pfes_core.cli import main
from pfes_core.project import Project
from pfes_core.spotting import project_preset


def _project(tmp_path):
    root = tmp_path / "p.pfes"
    Project.create(root).close()
    return root


def test_shows_the_default_preset_and_its_rules(tmp_path, capsys):
    root = _project(tmp_path)
    assert main(["spotting", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("preset default (project default)")
    assert "release_gap            20" in out and "[project setting]" not in out
    assert main(["spotting", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"] == {} and doc["preset"]["release_gap"] == 20


def test_set_and_unset_are_saved_and_used_by_spotting(tmp_path, capsys):
    root = _project(tmp_path)
    assert main(["spotting", str(root), "--set", "preset=casme2", "--set", "release_gap=20",
                 "--set", "me_length=[8, 15]"]) == 0
    out = capsys.readouterr().out
    assert "preset casme2" in out and "release_gap            20   [project setting]" in out
    with Project.open(root, readonly=True) as p:
        assert p.settings["spotting"] == {"preset": "casme2", "release_gap": 20, "me_length": [8, 15]}
        preset = project_preset(p.settings)
    assert (preset.name, preset.release_gap, preset.me_length, preset.budget) == ("casme2", 20, (8, 15), (8, 2))
    assert main(["spotting", str(root), "--unset", "release_gap", "--set", "cross_class_overlap=0.5"]) == 0
    capsys.readouterr()
    with Project.open(root, readonly=True) as p:
        assert p.settings["spotting"] == {"preset": "casme2", "me_length": [8, 15], "cross_class_overlap": 0.5}
        assert project_preset(p.settings).release_gap is None          # casme2's own rule again


def test_bad_changes_are_refused_and_nothing_is_written(tmp_path, capsys):
    root = _project(tmp_path)
    assert main(["spotting", str(root), "--set", "release_gap=12"]) == 0
    capsys.readouterr()
    for bad, message in ((["--set", "release_gap=0"], "release_gap"),
                         (["--set", "release_gapp=20"], "unknown spotting setting 'release_gapp'"),
                         (["--set", "preset=casme9"], "unknown spotting preset 'casme9'"),
                         (["--set", "release_gap"], "expected KEY=VALUE"),
                         (["--set", "mae_length=[30, 10]"], "bad spotting length range")):
        assert main(["spotting", str(root), *bad]) == 1
        assert message in capsys.readouterr().err
    with Project.open(root, readonly=True) as p:
        assert p.settings["spotting"] == {"release_gap": 12}
