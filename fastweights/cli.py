"""The ``fwp`` command line: its words and the module of each.

Each word is a module of ``fastweights.commands`` with ``add_arguments(parser) -> None`` and
``run(args) -> int``, listed in ``COMMANDS`` under its word path (``("bench", "ops")`` is
``fwp bench ops``); those modules, and the ``python -m`` scripts of ``fastweights.bench``, are the
only code that prints for the user. Only the module of the command being run is imported, so
``fwp --version`` and ``fwp --help`` stay fast.
Bad user input raised by the library (``ValueError``, ``TypeError``, ``FileNotFoundError``,
``KeyError``) becomes one line ``fwp: error: ...`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module

from fastweights import __version__

# Word path -> (module, one-line help). Adding a subcommand is one line here.
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("bench", "ops"): ("fastweights.commands.bench_ops", "time the forms of the learning rules"),
    ("bench", "mixers"): (
        "fastweights.commands.bench_mixers",
        "time forward+backward of every mixer",
    ),
    ("bench", "train"): (
        "fastweights.commands.bench_train",
        "training steps per second, eager and compiled",
    ),
    ("bench", "efficacy"): ("fastweights.commands.bench_efficacy", "the papers' findings, seeded"),
    ("presets",): ("fastweights.commands.presets", "parameter counts of the model presets"),
    ("list",): (
        "fastweights.commands.listing",
        "registered names, one per line: rules|cells|mixers|...",
    ),
    ("train",): ("fastweights.commands.train", "train a run preset: fwp train PRESET --out DIR"),
    ("demo",): ("fastweights.commands.demo", "the main demo: sum rule vs delta rule on edits"),
    ("eval",): ("fastweights.commands.evaluate", "evaluate a run: fwp eval RUN [--test-split]"),
    ("generate",): (
        "fastweights.commands.generate",
        "continue a text: fwp generate RUN --prompt TEXT",
    ),
    ("inspect",): ("fastweights.commands.inspect", "HTML report of a run's fast weights"),
    ("export",): ("fastweights.commands.export", "a run as a Hugging Face model: --hf DIR"),
}

# Help for the words that only group subcommands.
GROUPS: dict[tuple[str, ...], str] = {
    ("bench",): "benchmarks of speed and efficacy",
}

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, KeyError, FloatingPointError, ImportError)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The ``fwp`` parser; only the command that ``argv`` names gets its options declared."""
    parser = argparse.ArgumentParser(prog="fwp", description="Fast Weight Programmers toolkit.")
    parser.add_argument("--version", action="version", version=f"fwp {__version__}")
    subparsers = {(): parser.add_subparsers(dest="command", metavar="COMMAND", required=True)}
    for path, (module_name, help_text) in COMMANDS.items():
        for depth in range(1, len(path)):
            group = path[:depth]
            if group not in subparsers:
                group_parser = subparsers[group[:-1]].add_parser(
                    group[-1], help=GROUPS.get(group), description=GROUPS.get(group)
                )
                subparsers[group] = group_parser.add_subparsers(
                    dest=" ".join(group), metavar="COMMAND", required=True
                )
        leaf = subparsers[path[:-1]].add_parser(path[-1], help=help_text, description=help_text)
        leaf.set_defaults(fwp_module=module_name)
        if argv[: len(path)] == list(path):
            import_module(module_name).add_arguments(leaf)
    return parser


def _one_line(error: Exception) -> str:
    # str(KeyError("x")) is "'x'" (the repr); its argument reads better.
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(message.split()) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Run ``fwp`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    module = import_module(args.fwp_module)
    # a command that takes --section.field=value overrides declares OVERRIDES = True
    if extra and not getattr(module, "OVERRIDES", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    try:
        return module.run(args)
    except USER_ERRORS as error:
        print(f"fwp: error: {_one_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
