"""`pfes spotting`: show and change a project's proposal rules (``settings["spotting"]``).

A lab whose project came from `pfes import-dataset` proposes with that dataset's preset; this is
where it picks another preset or changes one rule (for example ``release_gap=20`` to join long
MaE onsets to their releases, `pfes_core.release_pairing`). Every change is checked against the
preset before it is written (journaled and saved); runs keep their proposals until `pfes spot`
re-makes them.
"""

from __future__ import annotations

import json
from dataclasses import fields

from ..errors import PfesError
from ..project import Project
from ..spotting import SpottingPreset, project_preset


def _parse(assignment: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as JSON (20, null, [12, 240], true); a bare word is a string."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise PfesError(f"expected KEY=VALUE, got {assignment!r}")
    try:
        return key, json.loads(text)
    except json.JSONDecodeError:
        return key, text.strip()


def changed_settings(current: dict, assignments: list[str], unset: list[str]) -> dict:
    """The project's ``settings["spotting"]`` after the changes; PfesError (nothing written) when
    a key is unknown or a value does not fit its rule."""
    spot = dict(current)
    known = {"preset"} | {f.name for f in fields(SpottingPreset)} - {"name", "faithful"}
    for key, value in (_parse(a) for a in assignments):
        if key not in known:
            raise PfesError(f"unknown spotting setting {key!r} (one of: {', '.join(sorted(known))})")
        spot[key] = value
    for key in unset:
        spot.pop(key, None)
    project_preset({"spotting": spot})            # raises for a bad name or value
    return spot


def cmd_spotting(args) -> int:
    changing = bool(args.set or args.unset)
    with Project.open(args.project, readonly=not changing) as project:
        current = dict((project.settings or {}).get("spotting") or {})
        if changing:
            current = changed_settings(current, args.set or [], args.unset or [])
            project.update_settings({"spotting": current})
            project.save()
        preset = project_preset({"spotting": current})
    effective = preset.to_dict()
    if args.json:
        print(json.dumps({"settings": current, "preset": effective}, indent=1))
        return 0
    own = set(current) - {"preset"}
    print(f"preset {preset.name}" + (" (project default)" if "preset" not in current else ""))
    for key, value in effective.items():
        if key in ("name", "faithful"):
            continue
        print(f"  {key:22s} {json.dumps(value)}" + ("   [project setting]" if key in own else ""))
    if changing:
        print("saved; `pfes spot` re-makes a run's proposals with these rules")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "spotting", help="show or change the project's proposal rules",
        description="Show the spotting preset the project proposes with and every rule in it; with --set "
                    "or --unset change the project's overrides (checked, journaled and saved). "
                    "Faithful-mode runs always propose with the published rules.")
    p.add_argument("project", metavar="PROJECT_DIR")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="set one rule (VALUE as JSON: release_gap=20, release_gap=null, me_length=[6,16]) "
                        "or preset=NAME; repeatable")
    p.add_argument("--unset", action="append", metavar="KEY", help="drop an override (back to the preset's value)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_spotting)
