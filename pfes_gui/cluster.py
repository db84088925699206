"""Sending Model -> Extract features and Retrain to a Ray cluster (Edit -> Preferences, "Ray cluster").

The GUI runs `pfes` worker processes; with an address set (settings key ``cluster/ray_address``)
those two jobs get ``--engine ray --ray-address ADDRESS``: the videos are extracted, and the
model trained, as tasks on the cluster while the dock shows the same progress. The project folder
must be on a file system the cluster's nodes share at the same path (docs/cluster.md). Spot and
Evaluate stay on this machine (they take seconds). A cluster job that fails (cluster unreachable,
connection lost, a task's error) is an error dialog naming the address; the worker process
reports it, so the window never waits on the cluster itself.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit

from . import dialogs

SETTINGS_KEY = "cluster/ray_address"


def ray_address(store) -> str:
    """The configured Ray address ('' when jobs run on this machine)."""
    value = store.value(SETTINGS_KEY, "")
    return str(value).strip() if isinstance(value, str) else ""


def set_ray_address(store, text: str) -> None:
    store.setValue(SETTINGS_KEY, (text or "").strip())
    store.sync()


def engine_args(store) -> list[str]:
    """The `pfes` options that send a job to the configured cluster ([] when none is set)."""
    address = ray_address(store)
    return ["--engine", "ray", "--ray-address", address] if address else []


def address_edit(store) -> QLineEdit:
    """The Preferences field (filled with the current address)."""
    edit = QLineEdit(ray_address(store))
    edit.setObjectName("ray_address")
    edit.setPlaceholderText("empty: this computer; or auto, HOST:6379, ray://HOST:10001")
    edit.setToolTip("Model -> Extract features and Retrain run as tasks on this Ray cluster; the "
                    "project must be on a folder every node sees at the same path")
    return edit


def watch(job, window, address: str) -> None:
    """An error dialog when the cluster job fails (not when it is cancelled)."""

    def finished(result: dict) -> None:
        if result.get("ok") or result.get("cancelled"):
            return
        message = result.get("error") or f"{job.name} failed"
        dialogs.error(window, f"{job.name} on the Ray cluster",
                      f"{message}\n\nRay cluster: {address} (Edit -> Preferences; empty runs the "
                      f"job on this computer).")

    job.finished.connect(finished)
