"""The headless command line, `pfes`. Each area registers its subcommands from its own module.

Every command prints a one-line ``error: ...`` and exits non-zero on bad input (1; 130 when
interrupted). Anything the code did not expect prints ``error: internal error: ...`` with a hint;
``pfes --debug COMMAND`` (or ``PFES_DEBUG=1``) shows the traceback instead.

A command started with ``--progress jsonl`` (the GUI's workers) or with ``PFES_EXIT_WITH_PARENT=1``
ends when the process that started it dies: nobody is left to read its progress. SIGTERM is
handled like Ctrl-C, so a cancelled or orphaned command cleans up as an interrupted one does.

Output conventions: results go to stdout (``--json`` where a command has results), progress and
errors to stderr; progress bars are drawn only when stderr is a terminal (`pfes_core.progress`).
A closed stdout (``pfes info --json | head``) ends the command quietly with status 141. The
native libraries' log lines are filtered out of stderr unless ``--verbose``
(`pfes_core.native_logs`). ``pfes completion bash|zsh|tcsh`` prints a completion script.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from .. import __version__
from ..errors import PfesError

# Each area's commands live in its own module, which defines `register(subparsers)`.
COMMAND_MODULES = (
    "pfes_core.cli.project_cmds",
    "pfes_core.cli.import_cmds",
    "pfes_core.cli.extract_cmds",
    "pfes_core.cli.synth_cmds",
    "pfes_core.cli.model_cmds",
    "pfes_core.cli.eval_cmds",
    "pfes_core.cli.spotting_cmds",
    "pfes_core.cli.agreement_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pfes",
        description="P-FES Studio, headless: point-supervised facial expression spotting "
                    "(projects, labels, features, training, spotting, evaluation, export).",
    )
    parser.add_argument("--version", action="version", version=f"pfes {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (as PFES_DEBUG=1 does)")
    parser.add_argument("--verbose", action="store_true",
                        help="let the libraries' own log lines (MediaPipe, TFLite, absl) through")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    _register_completion(sub)
    return parser


def _register_completion(sub) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh, tcsh)",
                       description="Print the completion script for SHELL, generated from this "
                                   "parser by shtab. Bash: `pfes completion bash > "
                                   "~/.local/share/bash-completion/completions/pfes` (new shells "
                                   "complete commands, options and paths). Zsh: write it as `_pfes` "
                                   "into a folder on your $fpath.")
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    p.set_defaults(func=_cmd_completion)


def _cmd_completion(args) -> int:
    try:
        import shtab
    except ImportError:
        raise PfesError("shell completion needs the shtab package (pip install shtab)") from None
    parser = build_parser()
    parser.prog = "pfes"
    print(shtab.complete(parser, shell=args.shell))
    return 0


def _stdout_gone() -> int:
    """The reader of stdout went away (`pfes info --json | head`): stop quietly, as a program
    killed by SIGPIPE would (exit status 141), with no traceback at exit either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # in-process callers with a fake stdout
        pass
    return 141


def describe_os_error(exc: OSError) -> str:
    """One line for a failed file operation: what went wrong and on which path."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    if paths:
        return f"{reason}: {' -> '.join(paths)}"
    return reason


def error_line(exc: BaseException) -> str:
    """The ``error: ...`` line for an exception that reached the command line."""
    if isinstance(exc, PfesError):   # one line even when it quotes a file's cell with a line break
        return "error: " + str(exc).replace("\r", "\\r").replace("\n", "\\n")
    if isinstance(exc, OSError):
        return f"error: {describe_os_error(exc)}"
    if isinstance(exc, MemoryError):
        return "error: out of memory"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return (f"error: internal error: {type(exc).__name__}{': ' + first if first else ''} "
            f"(rerun with `pfes --debug ...` for the traceback and report it)")


def _sigterm_as_interrupt(signum, frame) -> None:
    """SIGTERM does what Ctrl-C does (whatever SIGINT handler the running command installed)."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def _watch_parent(args) -> None:
    from ..lifeline import exit_with_parent

    if getattr(args, "progress", None) == "jsonl" or os.environ.get("PFES_EXIT_WITH_PARENT"):
        # One SIGTERM from the poll (no kernel signal on top: a second interrupt could cut the
        # cleanup short), then 10 s to stop cleanly (training saves its state).
        exit_with_parent(on_death=lambda: os.kill(os.getpid(), signal.SIGTERM), grace_s=10.0,
                         kernel_signal=False)


def calm_cpu_threads() -> None:
    """Let idle OpenMP threads sleep instead of spinning (before torch is loaded).

    Inference runs thousands of small parallel regions (`pfes spot` on a 54,000-frame video:
    ~20,000). With the runtime's default spin-waiting, on a machine whose cores are busy with
    other work every region waits for a descheduled partner thread: 2 threads were ~6x slower
    than 1 (benchmarks/bench_spot_long.py). Sleeping threads remove that. An explicit
    OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment is left alone."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def main(argv: list[str] | None = None) -> int:
    calm_cpu_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(args.debug or os.environ.get("PFES_DEBUG"))
    from ..native_logs import install, quiet_python_loggers

    quiet_python_loggers(args.verbose)
    if argv is None and not args.verbose:  # run as the `pfes` program: stderr is ours to filter
        install()
    previous = None
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGTERM"):
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        _watch_parent(args)
    try:
        result = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not as a traceback at exit
    except BrokenPipeError:
        return _stdout_gone()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (the one place every error becomes one line)
        if debug:
            raise
        print(error_line(exc), file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
