"""Where the long commands run: on this machine (``--engine local``, the default) or as tasks on a
Ray cluster (``--engine ray``), and which share of the videos one command takes (``--shard K/N``).

The local engine is the commands' own code (`pfes_core.cli.extract_cmds`, ...). The Ray engine
(`ray_engine`) runs the same per-video and per-fold functions as Ray tasks; Ray is an optional
extra (``pip install 'pfes-studio[cluster]'``) imported only when ``--engine ray`` is given.
`shards` splits a project's videos for batch schedulers (Slurm job arrays) without Ray.
"""

from __future__ import annotations

from ..errors import PfesError

ENGINES = ("local", "ray")
INSTALL_HINT = "pip install 'pfes-studio[cluster]'"


class ClusterError(PfesError):
    """The Ray engine cannot be used or lost its cluster (not installed, unreachable, gone)."""


def add_engine_options(parser, unit: str) -> None:
    """``--engine local|ray`` and ``--ray-address``; `unit` says what one Ray task is."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help=f"local: this machine (default); ray: one Ray task per {unit} on a Ray "
                             f"cluster (needs {INSTALL_HINT}; docs/cluster.md)")
    parser.add_argument("--ray-address", metavar="auto|HOST:PORT", default=None,
                        help="the Ray cluster for --engine ray: auto (the cluster this node belongs "
                             "to), HOST:PORT of its head, or unset: RAY_ADDRESS, else a Ray instance "
                             "started on this machine for the command")


def ray_engine_for(args):
    """The `ray_engine` module connected to the cluster `args` ask for, or None for local.
    A ``--ray-address`` without ``--engine ray`` is refused (it would be ignored silently)."""
    engine = getattr(args, "engine", "local")
    address = getattr(args, "ray_address", None)
    if engine != "ray":
        if address:
            raise PfesError("--ray-address is for --engine ray (add --engine ray, or drop it)")
        return None
    from . import ray_engine

    ray_engine.connect(address)
    return ray_engine


__all__ = ["ENGINES", "INSTALL_HINT", "ClusterError", "add_engine_options", "ray_engine_for"]
