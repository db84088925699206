"""How many models a full Retrain averages (Edit -> Preferences, "Models per Retrain"; 3 unless
the user sets it).

Why: the mean of several training seeds' models gave better proposals than its single members
on five of six fresh benchmark sets (benchmarks/RESULTS.md), for as many times the training
time; 1 is the choice for a slow machine. A Retrain runs `pfes train --members N`; a quick round
fine-tunes every member of its parent run, so it inherits the parent's count. Stored under
``training/members`` in the session settings, so the choice survives restarts.
"""

from __future__ import annotations

from PySide6.QtWidgets import QSpinBox

SETTINGS_KEY = "training/members"
DEFAULT_MEMBERS = 3      # pfes_core.train_config.CPU_MEMBERS (not imported: it would load torch)
MAX_MEMBERS = 5          # the core accepts more; beyond 5 a CPU Retrain takes too long to wait for


def training_members(store) -> int:
    """The configured count, clamped to 1..MAX_MEMBERS (a damaged value reads as the default)."""
    try:
        value = int(store.value(SETTINGS_KEY, DEFAULT_MEMBERS))
    except (TypeError, ValueError):
        return DEFAULT_MEMBERS
    return min(max(value, 1), MAX_MEMBERS)


def set_training_members(store, n: int) -> None:
    store.setValue(SETTINGS_KEY, int(min(max(n, 1), MAX_MEMBERS)))
    store.sync()


def members_spin(store) -> QSpinBox:
    """The Preferences field, set to the current count."""
    spin = QSpinBox()
    spin.setObjectName("training_members")
    spin.setRange(1, MAX_MEMBERS)
    spin.setValue(training_members(store))
    spin.setSuffix(" model(s)")
    spin.setToolTip("Model -> Retrain trains this many models (training seeds S, S+1, ...) and averages "
                    "their outputs: better proposals on most benchmark sets, for as many times the "
                    "training time. A quick round fine-tunes every model of the run it starts from.")
    return spin
