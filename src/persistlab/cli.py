"""The ``persistlab`` command: tools for course authors, instructors and learners."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from persistlab.classroom.course import Course

FAULTS_LESSON = "_when_embedding_fails"
"""check-real-service leaves out the lesson whose stem ends so: its faults are injected by the simulator."""


def _execute(args: argparse.Namespace) -> int:
    from persistlab.maintainers.notebooks import execute

    for path in args.notebooks:
        print(f"executing {path}", flush=True)
        execute(Path(path))
    return 0


def _course(args: argparse.Namespace) -> Course:
    from persistlab.classroom.course import Course

    return Course.load(Path(args.course)) if args.course else Course.find()


def _release(args: argparse.Namespace) -> int:
    from persistlab.classroom.cycle import release

    course = _course(args)
    names = course.chosen(args.names, args.all, "release")

    for path in release(course, names):
        print(f"released {path.relative_to(course.root)}")
    return 0


def _points(args: argparse.Namespace) -> int:
    from persistlab.classroom.points import sync

    course = _course(args)
    stale = 0
    for name in course.chosen(args.names, args.all, "points"):
        for path in sorted(course.path(course.source, name).glob("*.ipynb")):
            check = sync(path, write=args.write)
            where = path.relative_to(course.root)
            if check.up_to_date:
                print(f"{where}: points table up to date ({check.total[1]:g} points)")
                continue
            stale += 1
            changes = [f"{g} {old:g} -> {new:g}" for g, (old, new) in check.changed.items()]
            changes.append(f"total {check.total[0]:g} -> {check.total[1]:g}")
            print(f"{where}: {'rewrote' if args.write else 'out of date'}: {', '.join(changes)}")
    if stale and not args.write:
        print("run again with --write to fix the numbers, then persistlab release")
        return 1
    return 0


def _collect(args: argparse.Namespace) -> int:
    from persistlab.classroom.cycle import collect

    course = _course(args)
    result = collect(course, Path(args.zip), args.name, args.regexp)
    print(f"collected {len(result.students)} submission(s) of {args.name}: {', '.join(result.students) or 'none'}")
    for name in result.skipped:
        print(f"skipped {name}: its name does not follow <student>_[anything_]<notebook>.ipynb (see --regexp)")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    import time

    from persistlab.classroom.autograde import autograde
    from persistlab.tables import elapsed, format_table

    course = _course(args)
    names = course.chosen([args.name] if args.name else [], args.all, "autograde")
    start = time.monotonic()
    results = autograde(
        course,
        names,
        jobs=args.jobs,
        timeout=args.timeout,
        students=args.student or (),
        progress=lambda message: print(f"[{elapsed(start)}] {message}", flush=True),
    )
    rows = [("assignment", "student", "status", "score", "by hand", "notes")]
    rows += [
        (
            r.assignment,
            r.student,
            r.status,
            f"{r.score:g}/{r.max_score:g}",
            f"{r.by_hand:g}" if r.by_hand else "-",
            "; ".join(r.notes),
        )
        for r in results
    ]
    print(format_table(rows))
    waiting = [r for r in results if r.by_hand]
    if waiting:
        print(
            f"{len(waiting)} submission(s) have written answers worth {sum(r.by_hand for r in waiting):g} points in all "
            "('by hand'), not in their score yet: grade them in the formgrader (Manual Grading), then export."
        )
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"\n--- nbgrader log for {r.student}, {r.assignment} (end) ---\n" + "\n".join(r.log.splitlines()[-40:]))
    print(f"{len(results)} submission(s) graded in {elapsed(start)} with {args.jobs} job(s)")
    return 1 if failed else 0


def _feedback(args: argparse.Namespace) -> int:
    from persistlab.classroom.cycle import feedback

    course = _course(args)
    names = course.chosen([args.name] if args.name else [], args.all, "feedback")
    result = feedback(course, names)
    print(
        f"wrote {len(result.written)} feedback file(s) under {course.path(course.feedback).relative_to(course.root)}/ "
        "(hidden tests removed)"
    )
    for line in result.skipped:
        print(f"no feedback for {line}")
    if result.ungraded:
        print(
            f"warning: {len(result.ungraded)} notebook(s) have written answers not graded by hand yet; their feedback "
            "shows 0 points for them:\n  " + "\n  ".join(result.ungraded) + "\n"
            "Grade them in the formgrader (Manual Grading), then run persistlab feedback again before handing it out."
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from persistlab.classroom.cycle import export

    to = Path(args.to).resolve()
    names = export(_course(args), to, every_assignment=args.all_assignments)
    which = "" if args.all_assignments else " (those with submissions; --all-assignments for every one)"
    print(f"exported {', '.join(names)}{which}")
    print(f"wrote {to}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from persistlab.classroom.report import class_report, format_report, plot_report

    course = _course(args)
    names = course.assignments() if args.all or not args.name else [args.name]
    if args.name:
        course.require_assignment(args.name)
    report = class_report(course, names)
    if not any(ex.scores for ex in report.exercises):
        raise SystemExit("persistlab report: no graded submissions yet: run persistlab autograde first")
    print(format_report(report, top_messages=args.top))
    if args.plot:
        print(f"wrote {plot_report(report, Path(args.plot))}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from persistlab.classroom.selfcheck import check, record_check
    from persistlab.tables import format_table

    print(f"running {args.notebook} ...", flush=True)
    checked = check(Path(args.notebook), timeout=args.timeout)
    results = checked.tests
    for error in checked.errors:
        print(error)
    rows = [("test", "points", "result")]
    rows += [
        (r.name, f"{r.score:g}/{r.max_score:g}", "passed" if r.score == r.max_score else r.message or "failed")
        for r in results
    ]
    print(format_table(rows))
    score, top = sum(r.score for r in results), sum(r.max_score for r in results)
    print(f"visible tests: {score:g}/{top:g} points. Your instructor's grading also runs hidden tests.")
    written = _written_points(Path(args.notebook))
    if written:
        print(f"Written answers ({written:g} points) are graded by your instructor, by hand.")
    record_check(Path(args.notebook), results)
    return 0


def _serve_simulator(args: argparse.Namespace) -> int:
    from persistlab.simulator.http_server import run

    return run(args)


def _check_real_service(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from persistlab.maintainers.realcheck import CheckError, check
    from persistlab.simulator.server_process import served_simulator

    lessons = (
        [Path(p) for p in args.lessons]
        if args.lessons
        else [p for p in sorted(Path("lessons").glob("[0-9][0-9]_*.ipynb")) if not p.stem.endswith(FAULTS_LESSON)]
    )
    if not lessons:
        print(
            "persistlab check-real-service: no lessons found; run it from the course folder or pass --lessons",
            file=sys.stderr,
        )
        return 2
    try:
        with served_simulator(seed=0) if args.served_simulator else nullcontext() as served:
            api_base = served.base_url if served is not None else args.api_base
            return check(lessons, args.max_usd, api_base=api_base, timeout=args.timeout)
    except CheckError as err:
        print(f"persistlab check-real-service: {err}", file=sys.stderr)
        return 2


def _written_points(notebook: Path) -> float:
    import json

    from persistlab.classroom.points import graded_points

    cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    markdown = [c for c in cells if c.get("cell_type") == "markdown"]
    return sum(graded_points(markdown).values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="persistlab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("execute", help="run notebooks in place, reproducibly (for authors)")
    run.add_argument("notebooks", nargs="+")
    run.set_defaults(func=_execute)

    course = argparse.ArgumentParser(add_help=False)
    course.add_argument("--course", help="the course folder (default: the one holding nbgrader_config.py above here)")
    cmd = commands.add_parser("release", parents=[course], help="instructors: generate exercises/ from solutions/")
    cmd.add_argument("names", nargs="*", metavar="NAME")
    cmd.add_argument("--all", action="store_true", help="every assignment in solutions/")
    cmd.set_defaults(func=_release)
    cmd = commands.add_parser("points", parents=[course], help="authors: check (or --write) the points table in cell 0")
    cmd.add_argument("names", nargs="*", metavar="NAME")
    cmd.add_argument("--all", action="store_true", help="every assignment in solutions/")
    cmd.add_argument("--write", action="store_true", help="rewrite the numbers and the total from the cells' points")
    cmd.set_defaults(func=_points)
    cmd = commands.add_parser(
        "collect", parents=[course], help="instructors: an LMS zip into submitted/<student>/NAME/"
    )
    cmd.add_argument("zip", metavar="ZIP")
    cmd.add_argument("name", metavar="NAME")
    cmd.add_argument("--regexp", help="nbgrader named_regexp with groups student_id and file_id, for other file names")
    cmd.set_defaults(func=_collect)
    cmd = commands.add_parser("autograde", parents=[course], help="instructors: grade every submission of NAME")
    cmd.add_argument("name", metavar="NAME", nargs="?")
    cmd.add_argument("--all", action="store_true", help="every assignment, in one pool of workers")
    cmd.add_argument("--jobs", type=int, default=2, help="nbgrader processes at once (default 2)")
    cmd.add_argument("--timeout", type=int, help="seconds a cell may run (default: the course config, else 30)")
    cmd.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeat for more)")
    cmd.set_defaults(func=_autograde)
    cmd = commands.add_parser("feedback", parents=[course], help="instructors: feedback HTML, hidden tests removed")
    cmd.add_argument("name", metavar="NAME", nargs="?")
    cmd.add_argument("--all", action="store_true", help="every assignment")
    cmd.set_defaults(func=_feedback)
    cmd = commands.add_parser(
        "export", parents=[course], help="instructors: the grades of the assignments with submissions to a CSV file"
    )
    cmd.add_argument("--to", default="grades.csv", help="the CSV file (default grades.csv)")
    cmd.add_argument(
        "--all-assignments",
        action="store_true",
        help="every assignment in the gradebook, even those nobody submitted (zeros for everyone)",
    )
    cmd.set_defaults(func=_export)
    cmd = commands.add_parser(
        "report", parents=[course], help="instructors: what the class fails, and the spread of scores"
    )
    cmd.add_argument("name", metavar="NAME", nargs="?", help="one assignment (default: all)")
    cmd.add_argument("--all", action="store_true", help="every assignment (the default)")
    cmd.add_argument("--plot", metavar="PNG", help="also draw the report into this PNG file")
    cmd.add_argument("--top", type=int, default=3, help="failure messages shown per test (default 3)")
    cmd.set_defaults(func=_report)
    cmd = commands.add_parser("check", help="learners: run the visible tests of one exercise notebook")
    cmd.add_argument("notebook", metavar="NOTEBOOK")
    cmd.add_argument("--timeout", type=int, default=120, help="seconds a cell may run (default 120)")
    cmd.set_defaults(func=_check)
    cmd = commands.add_parser(
        "serve-simulator", help="serve the offline OpenAI simulator on a loopback port; prints its base URL"
    )
    from persistlab.simulator.http_server import add_arguments

    add_arguments(cmd)
    cmd.set_defaults(func=_serve_simulator)
    cmd = commands.add_parser(
        "check-real-service",
        help="maintainers: run lessons on the real API under a spend cap and compare with the simulator",
    )
    cmd.add_argument("--max-usd", type=float, help="spend cap in US dollars (required), e.g. 0.01")
    cmd.add_argument("--api-base", help="an OpenAI-compatible server instead of the real API")
    cmd.add_argument(
        "--served-simulator",
        action="store_true",
        help="compare against the simulator served over loopback (what CI does; no key needed)",
    )
    cmd.add_argument("--lessons", nargs="+", metavar="NOTEBOOK", help=f"default: every lesson but *{FAULTS_LESSON}")
    cmd.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    cmd.set_defaults(func=_check_real_service)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from persistlab.classroom.course import ClassroomError
    from persistlab.classroom.points import PointsTableError

    try:
        return int(args.func(args) or 0)
    except (ClassroomError, PointsTableError) as err:
        print(f"persistlab {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
