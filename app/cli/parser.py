"""The ``layerforge`` command line's arguments: one parser per command, with one-line errors.

The README's synopsis is checked against these parsers by the tests, so the two cannot drift.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from app.core.settings import DEFAULT_RANK_TIMEOUT_S
from engine import __version__
from engine.export import FORMATS as EXPORT_FORMATS
from engine.training.lr_finder import END_LR, NUM_ITER, START_LR

PROG = "layerforge"
COMMANDS = ("train", "validate", "summary", "export", "new", "templates", "lr-find")


class UsageError(Exception):
    """A command-line mistake found after parsing (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the mistake and where to read the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def top_parser() -> _Parser:
    p = _Parser(prog=PROG, description="Design, train and export neural networks visually.",
                epilog="commands (run 'layerforge COMMAND --help' for each):\n"
                       "  train      train a project headless (progress bar, metrics, weights)\n"
                       "  validate   list a project's problems (exit 1 if any error)\n"
                       "  summary    table of layers, shapes, parameters and FLOPs\n"
                       "  export     write trained weights as safetensors, npz, onnx or pytorch\n"
                       "  lr-find    sweep the learning rate and suggest one\n"
                       "  new        create a project from a template\n"
                       "  templates  list the templates",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--self-test", action="store_true",
                   help="check this installation end to end (offscreen window, spiral "
                        "template, one epoch on the CPU, export and reload); exit 0 if it works")
    p.add_argument("project", nargs="?", help="project file to open in the GUI")
    return p


def command_parser(command: str) -> _Parser:
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
        p.add_argument("--out", type=Path, help="the run's folder for weights, checkpoints and "
                                                "the metrics log (default: runs/<project>/<time> "
                                                "next to the project); a folder that already "
                                                "holds a run is never reused: OUT-2, OUT-3 ... "
                                                "are taken instead")
        p.add_argument("--resume", type=Path, metavar="CHECKPOINT",
                       help="continue from a checkpoint written by an earlier run (in that "
                            "run's folder unless --out says otherwise)")
        p.add_argument("--init-weights", type=Path, metavar="FILE",
                       help="start from these weights (.safetensors/.npz, e.g. saved by "
                            "PyTorch for the same graph) to fine-tune")
        p.add_argument("--max-batches", type=_positive_int, metavar="N",
                       help="stop each epoch after N batches (a quick check that a project "
                            "trains)")
        p.add_argument("--distributed", action="store_true",
                       help="one process per rank under mpiexec")
        p.add_argument("--timeout", type=_positive_float, metavar="S",
                       help="--distributed: seconds a rank waits for the others before the "
                            f"run is declared stuck, naming the silent ranks (default: "
                            f"{DEFAULT_RANK_TIMEOUT_S:g})")
        p.add_argument("--no-record", action="store_true",
                       help="do not list the run with the project's runs (the project file "
                            "is never written either way)")
        p.add_argument("--diagnostics", nargs="?", const=True, default=False,
                       type=_positive_int, metavar="EVERY",
                       help="collect layer statistics (activations, gradients, updates; also "
                            "in the run's TensorBoard file) and warn about dead, saturated, "
                            "vanishing or exploding layers; every EVERY batches, or as often "
                            "as 1%% of the training time allows when EVERY is left out")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    elif command == "lr-find":
        p.description = ("Sweep the learning rate exponentially on a copy of the model and "
                         "suggest one (the steepest descent of the smoothed loss before its "
                         "minimum); the project is not changed.")
        p.add_argument("project", help="project file (.json)")
        p.add_argument("--start", type=_positive_float, default=START_LR,
                       help="first learning rate (1e-7)")
        p.add_argument("--end", type=_positive_float, default=END_LR,
                       help="last learning rate (10)")
        p.add_argument("--steps", type=_positive_int, default=NUM_ITER, help="steps (100)")
        p.add_argument("--batch-size", type=_positive_int, help="batch size (default: the "
                                                                 "project's)")
        p.add_argument("--seed", type=_non_negative_int, help="random seed (default: the "
                                                              "project's)")
        p.add_argument("--csv", type=Path, metavar="FILE", help="write the curve (lr, loss, "
                                                                "smoothed loss) to FILE")
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
