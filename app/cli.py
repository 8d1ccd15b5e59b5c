"""The ``layerforge`` command.

    layerforge [PROJECT]                      open the GUI (on a project)
    layerforge train PROJECT [options]        train headless, writing weights and metrics
    layerforge validate PROJECT               list problems; exit 1 if there are errors
    layerforge summary PROJECT                layers, shapes, parameters, FLOPs, memory
    layerforge export PROJECT --format F -o OUT [--weights FILE]
    layerforge new PATH [--template NAME]     start a project from a template
    layerforge templates                      list the templates
    layerforge --self-test                    check the installation works (exit 0 if so)

Every failure the user can fix (wrong arguments, a bad file, a graph with problems) ends with one
line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from engine import __version__

PROG = "layerforge"
COMMANDS = ("train", "validate", "summary", "export", "new", "templates")
EXPORT_FORMATS = ("safetensors", "npz", "onnx", "pytorch")


class UsageError(Exception):
    """A command-line mistake found after parsing (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the mistake and where to read the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _top_parser() -> _Parser:
    p = _Parser(prog=PROG, description="Design, train and export neural networks visually.",
                epilog="commands (run 'layerforge COMMAND --help' for each):\n"
                       "  train      train a project headless (progress bar, metrics, weights)\n"
                       "  validate   list a project's problems (exit 1 if any error)\n"
                       "  summary    table of layers, shapes, parameters and FLOPs\n"
                       "  export     write trained weights as safetensors, npz, onnx or pytorch\n"
                       "  new        create a project from a template\n"
                       "  templates  list the templates",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--self-test", action="store_true",
                   help="check this installation end to end (offscreen window, spiral "
                        "template, one epoch on the CPU, export and reload); exit 0 if it works")
    p.add_argument("project", nargs="?", help="project file to open in the GUI")
    return p


def _command_parser(command: str) -> _Parser:
    p = _Parser(prog=f"{PROG} {command}")
    if command == "train":
        p.description = "Train a project without a display."
        p.add_argument("project", help="project file (.json)")
        p.add_argument("--epochs", type=_positive_int, help="epochs (default: the project's)")
        p.add_argument("--batch-size", type=_positive_int, help="batch size (default: the "
                                                                 "project's)")
        p.add_argument("--lr", type=_positive_float, help="learning rate (default: the "
                                                          "project's)")
        p.add_argument("--seed", type=_non_negative_int, help="random seed (default: the "
                                                              "project's)")
        p.add_argument("--devices", help="cpu, cuda:0, or a comma-separated list like "
                                         "cuda:0,cuda:1 (default: the project's)")
        p.add_argument("--out", type=Path, help="folder for weights, checkpoints and the "
                                                "metrics log (default: runs/<time> next to the "
                                                "project)")
        p.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                       help="continue from a checkpoint written by an earlier run")
        p.add_argument("--init-weights", type=Path, metavar="FILE",
                       help="start from these weights (.safetensors/.npz, e.g. saved by "
                            "PyTorch for the same graph) to fine-tune")
        p.add_argument("--distributed", action="store_true",
                       help="one process per rank under mpiexec")
        p.add_argument("--no-record", action="store_true",
                       help="do not add the run to the project file")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    elif command in ("validate", "summary"):
        p.description = ("List the project's problems." if command == "validate" else
                         "Show layers, output shapes, parameters, FLOPs and memory.")
        p.add_argument("project", help="project file (.json)")
        if command == "validate":
            p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
        else:
            p.add_argument("--batch-size", type=_positive_int,
                           help="batch size for the memory estimate (default: the project's)")
    elif command == "export":
        p.description = "Export trained weights (and the model) for use outside LayerForge."
        p.add_argument("project", help="project file (.json)")
        p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        p.add_argument("-o", "--output", required=True, type=Path,
                       help="file to write (for pytorch: a folder, or a .py file)")
        p.add_argument("--weights", type=Path, help="trained weights (.safetensors or .npz; "
                                                    "default: the project's latest run)")
        p.add_argument("--no-normalization", action="store_true",
                       help="onnx: leave the training normalisation out of the model")
    elif command == "new":
        p.description = "Create a project file from a template."
        p.add_argument("path", type=Path, help="project file to create (.json)")
        p.add_argument("--template", default="mlp_digits", help="template name (see "
                                                                 "'layerforge templates')")
        p.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


def _number(cast: Any, ok: Any, kind: str, must: str) -> Any:
    """An argparse ``type=`` that parses with ``cast`` and accepts values for which ``ok``
    holds, naming what was expected when it fails."""
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {must}, got {text}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a whole number", "at least 1")
_non_negative_int = _number(int, lambda v: v >= 0, "a whole number", "0 or more")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a number",
                          "a positive number")


# -------------------------------------------------------------------- commands
def _load(path: str | Path) -> Any:
    from .project import Project  # noqa: PLC0415

    return Project.load(path)


def cmd_validate(args: argparse.Namespace) -> int:
    project = _load(args.project)
    problems = project.validate()
    for p in problems:
        print(f"{p.severity}: {p}")
    n_err = sum(p.severity == "error" for p in problems)
    n_warn = len(problems) - n_err
    if not problems:
        total = sum(i.params for i in project.graph.infer().values())
        print(f"{args.project}: no problems ({len(project.graph)} nodes, {total:,} parameters)")
    else:
        print(f"{args.project}: {n_err} error(s), {n_warn} warning(s)")
    return 1 if n_err or (args.strict and n_warn) else 0


def cmd_summary(args: argparse.Namespace) -> int:
    from engine.graph import format_summary, summarize  # noqa: PLC0415

    project = _load(args.project)
    batch = args.batch_size or project.training["batch_size"]
    optimizer = project.training["optimizer"]["name"].lower()
    if optimizer == "sgd" and project.training["optimizer"].get("momentum"):
        optimizer = "sgd_momentum"
    summary = summarize(project.graph, batch, optimizer)
    print(format_summary(summary, title=f"{project.name} ({args.project})"))
    errors = [p for p in project.validate() if p.severity == "error"]
    if errors:
        print(f"{len(errors)} problem(s); run 'layerforge validate {args.project}' to list them")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from .project import Project, list_templates  # noqa: PLC0415

    for name in list_templates():
        print(f"{name:<16} {Project.from_template(name).name}")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from .project import Project  # noqa: PLC0415

    if args.path.exists() and not args.force:
        raise UsageError(f"{args.path} already exists; use --force to overwrite it")
    project = Project.from_template(args.template)
    project.save(args.path)
    print(f"created {args.path} from template {args.template} ({project.name})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .exporting import export_project  # noqa: PLC0415

    project = _load(args.project)
    written = export_project(project, args.format, args.output, weights=args.weights,
                             normalization=not args.no_normalization)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training_loop import TrainOptions, train_project  # noqa: PLC0415

    project = _load(args.project)
    devices = None
    if args.devices is not None:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
        if not devices:
            raise UsageError("--devices: give cpu, cuda:0, or a list like cuda:0,cuda:1")
    options = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           seed=args.seed, devices=devices, out_dir=args.out, resume=args.resume,
                           init_weights=args.init_weights, distributed=args.distributed,
                           progress=not args.quiet, record=not args.no_record)
    result = train_project(project, options)
    return 0 if result.reason in ("completed", "early_stopping") else (
        130 if result.reason == "interrupted" else 1)


def _open_gui(project: str | None) -> int:
    import os  # noqa: PLC0415

    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        print(f"{PROG}: no display to open the desktop app on (DISPLAY is not set); use "
              "'layerforge --help' for the command-line tools", file=sys.stderr)
        return 2
    try:
        import PySide6.QtWidgets  # noqa: F401, PLC0415

        from app.gui import main as gui_main  # noqa: PLC0415
    except ImportError as exc:
        print(f"{PROG}: the desktop app needs PySide6 ({exc}); install it with "
              "'pip install PySide6-Essentials' or use 'layerforge --help' for the "
              "command-line tools", file=sys.stderr)
        return 2
    return gui_main(project)


_HANDLERS = {"train": cmd_train, "validate": cmd_validate, "summary": cmd_summary,
             "export": cmd_export, "new": cmd_new, "templates": cmd_templates}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``layerforge`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            command = argv[0]
            args = _command_parser(command).parse_args(argv[1:])
            return _HANDLERS[command](args)
        args = _top_parser().parse_args(argv)
        if args.self_test:
            from .selftest import run_self_test  # noqa: PLC0415

            return run_self_test()
        return _open_gui(args.project)
    except SystemExit as exc:  # --help, --version and argparse errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except UsageError as exc:
        _fail(str(exc))
        return 2
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into a line
        if not _expected(exc):
            raise
        _fail(str(exc))
        return 1


def _expected(exc: Exception) -> bool:
    """Errors a user can act on (bad files, graph problems, devices, data) as opposed to bugs,
    which keep their traceback."""
    from engine.errors import EngineError  # noqa: PLC0415

    from .project import ProjectError  # noqa: PLC0415

    return isinstance(exc, ProjectError | EngineError | OSError)


def _fail(message: str) -> None:
    message = " ".join(message.split())  # one line, whatever the message held
    print(f"{PROG}: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
