"""A throw-away PostgreSQL server for tests: initdb into a temp dir, listen on a Unix socket only."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRED = os.environ.get("STYLELENS_REQUIRE_POSTGRES") == "1"  # CI sets it: no silent skip there


def find_pg_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def _as_owner(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PgServer:
    def __init__(self, base: Path, bin_dir: Path, port: int = 55432):
        self.base, self.bin, self.port = base, bin_dir, port
        self.data, self.sock = base / "data", base / "sock"

    def start(self) -> str:
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
        subprocess.run(_as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                  "--no-sync"]), check=True, capture_output=True)
        self._pg_ctl_start()
        self.url = self.create_database("stylelens")
        return self.url

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its SQLAlchemy URL."""
        subprocess.run(_as_owner([str(self.bin / "createdb"), "-h", str(self.sock), "-p", str(self.port), "-U",
                                  "postgres", name]), check=True, capture_output=True)
        return f"postgresql+psycopg://postgres@/{name}?host={self.sock}&port={self.port}"

    def restart(self) -> None:
        """Start the server again after `stop` (same data, socket and port)."""
        self._pg_ctl_start()

    def stop_command(self) -> list[str]:
        """The command line that stops the server at once (in-flight connections are cut)."""
        return _as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])

    def stop(self) -> None:
        subprocess.run(self.stop_command(), capture_output=True)

    def _pg_ctl_start(self) -> None:
        opts = f"-c listen_addresses='' -c unix_socket_directories={self.sock} -p {self.port} -c fsync=off"
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l",
                                  str(self.base / "log"), "start"]), check=True, capture_output=True)


@contextmanager
def throwaway_server(port_offset: int = 0) -> Iterator[PgServer]:
    """A started server, stopped and deleted afterwards. Skips the test when the PostgreSQL binaries or psycopg
    are missing (fails instead under STYLELENS_REQUIRE_POSTGRES=1). `port_offset` tells apart servers one
    test process runs at the same time."""
    bin_dir = find_pg_bin()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        bin_dir = None
    if bin_dir is None:
        if REQUIRED:
            pytest.fail("PostgreSQL server binaries and psycopg are required (STYLELENS_REQUIRE_POSTGRES=1)")
        pytest.skip("no PostgreSQL server binaries or no psycopg on this machine")
    # not under pytest's tmp dir: that one is private to root, and the server runs as `postgres`
    base = Path(tempfile.mkdtemp(prefix="stylelens-pg-"))
    base.chmod(0o755)
    server = PgServer(base / "server", bin_dir, port=55000 + (os.getpid() + port_offset) % 1000)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
