"""A throw-away PostgreSQL server for tests: initdb into a temp dir, listen on a Unix socket only."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


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
        opts = f"-c listen_addresses='' -c unix_socket_directories={self.sock} -p {self.port} -c fsync=off"
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l",
                                  str(self.base / "log"), "start"]), check=True, capture_output=True)
        return self.create_database("stylelens")

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its SQLAlchemy URL."""
        subprocess.run(_as_owner([str(self.bin / "createdb"), "-h", str(self.sock), "-p", str(self.port), "-U",
                                  "postgres", name]), check=True, capture_output=True)
        return f"postgresql+psycopg://postgres@/{name}?host={self.sock}&port={self.port}"

    def stop(self) -> None:
        subprocess.run(_as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
