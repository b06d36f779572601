"""The ``persistlab`` command: tools for course authors, instructors and learners."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _execute(args: argparse.Namespace) -> int:
    from persistlab.notebooks import execute

    for path in args.notebooks:
        print(f"executing {path}", flush=True)
        execute(Path(path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="persistlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("execute", help="run notebooks in place, reproducibly (for authors)")
    run.add_argument("notebooks", nargs="+")
    run.set_defaults(func=_execute)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
