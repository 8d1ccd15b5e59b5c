"""What each ``layerforge`` command does, and ``main``, which turns every failure a user can fix
(wrong arguments, a bad file, a network with problems, a run that cannot start) into one line on
stderr and a non-zero exit status; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .parser import COMMANDS, PROG, UsageError, command_parser, top_parser


def _load(path: str | Path) -> Any:
    from app.core.project import Project  # noqa: PLC0415

    return Project.load(path)


def cmd_validate(args: argparse.Namespace) -> int:
    from engine.graph import errors  # noqa: PLC0415

    project = _load(args.project)
    problems = project.validate(probe=True)
    for p in problems:
        print(f"{p.severity}: {p}")
    n_err = len(errors(problems))
    n_warn = len(problems) - n_err
    if not problems:
        total = sum(i.params for i in project.graph.infer().values())
        print(f"{args.project}: no problems ({len(project.graph)} nodes, {total:,} parameters)")
    else:
        print(f"{args.project}: {n_err} error(s), {n_warn} warning(s)")
    return 1 if n_err or (args.strict and n_warn) else 0


def cmd_summary(args: argparse.Namespace) -> int:
    from app.core.memory import estimator_optimizer  # noqa: PLC0415
    from engine.graph import errors, format_summary, summarize  # noqa: PLC0415

    project = _load(args.project)
    batch = args.batch_size or project.training["batch_size"]
    summary = summarize(project.graph, batch, estimator_optimizer(project.training))
    print(format_summary(summary, title=f"{project.name} ({args.project})"))
    problems = errors(project.validate(probe=True))
    if problems:
        print(f"{len(problems)} problem(s); run 'layerforge validate {args.project}' to list them")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from app.core.project import list_templates, template_title  # noqa: PLC0415

    for name in list_templates():
        print(f"{name:<16} {template_title(name)}")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from app.core.project import Project  # noqa: PLC0415

    if args.path.exists() and not args.force:
        raise UsageError(f"{args.path} already exists; use --force to overwrite it")
    project = Project.from_template(args.template)
    project.save(args.path)
    print(f"created {args.path} from template {args.template} ({project.name})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from app.core.exporting import export_project  # noqa: PLC0415

    project = _load(args.project)
    written = export_project(project, args.format, args.output, weights=args.weights,
                             normalization=not args.no_normalization)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from app.core.runner import RunControl, train  # noqa: PLC0415
    from app.core.settings import RunOverrides  # noqa: PLC0415

    from .presenter import TerminalPresenter, stop_on_signals  # noqa: PLC0415

    project = _load(args.project)
    devices = None
    if args.devices is not None:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
        if not devices:
            raise UsageError("--devices: give cpu, cuda:0, or a list like cuda:0,cuda:1")
    overrides = RunOverrides(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             seed=args.seed, devices=devices, max_batches=args.max_batches)
    presenter = TerminalPresenter(project.name, progress=not args.quiet)
    control = RunControl()
    with stop_on_signals(control, presenter):
        result = train(project, overrides, out=args.out, resume=args.resume,
                       init_weights=args.init_weights, distributed=args.distributed,
                       timeout=args.timeout, source="cli", callbacks=[presenter], control=control,
                       on_ready=presenter.ready, listed=not args.no_record,
                       diagnostics=args.diagnostics)
    presenter.report_end(result)
    if result.ok:
        return 0
    return 130 if result.reason == "interrupted" else 1


def cmd_lr_find(args: argparse.Namespace) -> int:
    from app.core.lr_find import find_lr  # noqa: PLC0415
    from app.core.settings import RunOverrides  # noqa: PLC0415

    from .presenter import format_lr_sweep  # noqa: PLC0415

    if args.start >= args.end:
        raise UsageError(f"--start ({args.start:g}) must be below --end ({args.end:g})")
    if args.steps < 10:
        raise UsageError(f"--steps must be at least 10 for a curve to read, got {args.steps}")
    project = _load(args.project)
    print(f"lr-find {project.name!r}: {args.steps} steps from {args.start:g} to {args.end:g} "
          f"on a copy of the model", flush=True)
    result = find_lr(project, RunOverrides(batch_size=args.batch_size, seed=args.seed),
                     start_lr=args.start, end_lr=args.end, steps=args.steps)
    for line in format_lr_sweep(result):
        print(line)
    if args.csv is not None:
        rows = ["lr,loss,smoothed_loss"] + [f"{lr:.6g},{loss:.6g},{sm:.6g}" for lr, loss, sm in
                                            zip(result.lrs, result.losses, result.smoothed)]
        args.csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
        print(f"wrote {args.csv}")
    if result.suggestion is None:
        return 1
    print(f"train with it: {PROG} train {args.project} --lr {result.suggestion:.3g}")
    return 0


def _open_gui(project: str | None) -> int:
    if (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")):
        print(f"{PROG}: no display to open the desktop app on (DISPLAY is not set); use "
              "'layerforge --help' for the command-line tools", file=sys.stderr)
        return 2
    if _uses_xcb():
        from .system_libs import missing_message, missing_xcb_libs  # noqa: PLC0415

        missing = missing_xcb_libs()
        if missing:
            _fail(missing_message(missing))
            return 1
    try:
        import PySide6.QtWidgets  # noqa: F401, PLC0415

        from app.gui import main as gui_main  # noqa: PLC0415
    except ImportError as exc:
        print(f"{PROG}: the desktop app needs PySide6 ({exc}); install it with "
              "'pip install PySide6-Essentials' or use 'layerforge --help' for the "
              "command-line tools", file=sys.stderr)
        return 2
    return gui_main(project)


def _uses_xcb() -> bool:
    """Whether Qt will start its X11 plugin: on Linux, unless another platform is asked for
    (offscreen, wayland) or only Wayland is there."""
    if not sys.platform.startswith("linux") or getattr(sys, "frozen", False):
        return False  # a frozen build ships these libraries
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return bool(os.environ.get("DISPLAY")) and not os.environ.get("WAYLAND_DISPLAY")


_HANDLERS = {"train": cmd_train, "validate": cmd_validate, "summary": cmd_summary,
             "export": cmd_export, "new": cmd_new, "templates": cmd_templates,
             "lr-find": cmd_lr_find}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``layerforge`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in COMMANDS:
            command = argv[0]
            args = command_parser(command).parse_args(argv[1:])
            return _HANDLERS[command](args)
        args = top_parser().parse_args(argv)
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
        from app.core.logfile import bug_report_hint, log_bug, log_problem  # noqa: PLC0415

        if not _expected(exc):  # a bug: its traceback, kept in the log too
            path = log_bug(exc, f"layerforge {' '.join(argv)}")
            traceback.print_exc()
            _fail(bug_report_hint(path))
            return 1
        log_problem(f"layerforge {argv[0] if argv else ''}: {exc}")
        _fail(str(exc))
        return 1


def _expected(exc: Exception) -> bool:
    """Errors a user can act on (bad files, graph problems, devices, data) as opposed to bugs,
    which keep their traceback."""
    from app.core.errors import AppError  # noqa: PLC0415
    from engine.errors import EngineError  # noqa: PLC0415

    return isinstance(exc, AppError | EngineError | OSError)


def _fail(message: str) -> None:
    message = " ".join(message.split())  # one line, whatever the message held
    print(f"{PROG}: error: {message}", file=sys.stderr)
