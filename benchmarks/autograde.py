"""How long autograding takes: one submission, then a class, serial and in parallel.

    .venv/bin/python benchmarks/autograde.py                     # class of 30, exercise 1
    .venv/bin/python benchmarks/autograde.py --students 10 --exercise 02_embedding_mismatch

Works in a temporary copy of the course. The class is synthetic: the reference submissions of
``tests/submissions/<exercise>/`` (solution, blank and the realistic mistakes; not the hostile ones,
whose time limits would dominate), repeated until there are enough students. It is graded five
ways, each from scratch:

- ``nbgrader autograde`` with ``PERSISTLAB_FORK_KERNELS=0``: nbgrader alone, one notebook after the other,
  each kernel started the usual way (the baseline, and the course's default);
- ``nbgrader autograde``, forked: the same, with the course's forked kernels (``PERSISTLAB_FORK_KERNELS=1``,
  :mod:`persistlab.classroom.kernels`);
- ``persistlab autograde --jobs 1`` and ``--jobs 2``: the course's command, serial and two nbgrader processes
  at once, usual kernels;
- ``persistlab autograde --jobs 2``, forked;

and the grades of the five runs are compared cell by cell. Figures depend on the machine and on
what else runs on it: the table prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import submissions  # noqa: E402  (tests/submissions: the reference submissions)

from persistlab.classroom.course import Course  # noqa: E402
from persistlab.classroom.cycle import run_nbgrader  # noqa: E402


def make_course(root: Path, exercise: str, students: int) -> list[str]:
    """Copy the course into ``root``, release ``exercise`` and submit a synthetic class; the student ids."""
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "solutions" / exercise, root / "solutions" / exercise)
    course = Course.load(root)
    run_nbgrader(course, "generate_assignment", exercise, "--force")
    solution = root / "solutions" / exercise / f"{exercise}.ipynb"
    release = root / "exercises" / exercise / f"{exercise}.ipynb"
    names = [n for n in submissions.names(exercise) if not n.startswith("hostile")]
    ids = []
    for i in range(students):
        name = names[i % len(names)]
        who = f"s{i + 1:02d}-{name.replace('_', '-')}"
        target = root / "submitted" / who / exercise / f"{exercise}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(submissions.build(submissions.load(exercise, name, solution), release, solution)))
        ids.append(who)
    return ids


def reset(root: Path, exercise: str) -> None:
    """Forget every grading: no autograded folders, no submissions in the gradebook."""
    shutil.rmtree(root / "autograded", ignore_errors=True)
    course = Course.load(root)
    with course.gradebook() as gb:
        for submission in list(gb.find_assignment(exercise).submissions):
            gb.remove_submission(exercise, submission.student.id)


def grades(root: Path, exercise: str) -> dict[str, dict[str, float | None]]:
    with Course.load(root).gradebook() as gb:
        return {
            s.student.id: {
                g.name: g.auto_score for g in gb.find_submission_notebook(exercise, exercise, s.student.id).grades
            }
            for s in gb.find_assignment(exercise).submissions
        }


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PATH": path, **(env or {})}
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exercise", default="01_persist_and_reload")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--timeout", type=int, default=60, help="seconds a cell may run")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="persistlab-bench-") as tmp:
        root = Path(tmp)
        ids = make_course(root, args.exercise, args.students)
        timeout = f"--ExecutePreprocessor.timeout={args.timeout}"
        nbgrader = [sys.executable, "-m", "nbgrader", "autograde", args.exercise, "--force", timeout]
        persistlab = [
            sys.executable,
            "-m",
            "persistlab.cli",
            "autograde",
            args.exercise,
            "--timeout",
            str(args.timeout),
        ]

        one = timed([*nbgrader, "--student", ids[0]], root)  # the solution
        reset(root, args.exercise)
        rows, results = [], {}
        usual = {"PERSISTLAB_FORK_KERNELS": "0"}  # kernels started the usual way (the default), as nbgrader alone does
        forked = {"PERSISTLAB_FORK_KERNELS": "1"}  # the instructors' opt-in
        for label, command, env in (
            ("nbgrader autograde, usual kernels", nbgrader, usual),
            ("nbgrader autograde, forked", nbgrader, forked),
            ("persistlab autograde --jobs 1", [*persistlab, "--jobs", "1"], usual),
            ("persistlab autograde --jobs 2", [*persistlab, "--jobs", "2"], usual),
            ("persistlab autograde --jobs 2, forked", [*persistlab, "--jobs", "2"], forked),
        ):
            seconds = timed(command, root, env)
            results[label] = grades(root, args.exercise)
            reset(root, args.exercise)
            rows.append((label, seconds))
    baseline = rows[0][1]
    same = all(r == results[rows[0][0]] for r in results.values()) and len(results[rows[0][0]]) == args.students
    print(
        f"autograde benchmark: {args.exercise}, {os.cpu_count()} CPU(s), "
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"one submission, nbgrader autograde --student (with ~5 s of nbgrader start-up): {one:.1f} s\n")
    print(f"{'class of ' + str(args.students):32s} {'wall s':>8s} {'s/submission':>13s} {'speed-up':>9s}")
    for label, seconds in rows:
        print(f"{label:32s} {seconds:8.1f} {seconds / args.students:13.2f} {baseline / seconds:8.2f}x")
    print(f"\ngrades identical in all {len(rows)} runs: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
