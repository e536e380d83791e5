"""Reliability rounds against real workspaces on SQLite and on a throwaway PostgreSQL server.

Not a unit test (it takes minutes): it drives the real `stylelens` CLI in subprocesses and prints, per
round and database, how many cases ran, how many failed and what was left behind.

- kill:        `index` runs killed with SIGKILL (the main process only, as the OOM killer would) at chosen
               moments: right at start-up, after n committed images, while a snapshot is being written,
               while deletions are being applied. Between kills the corpus grows and shrinks. After each
               kill: processes of that run still alive 2 s later. After one completed re-run: every file
               catalogued exactly once, catalog == stored vectors == every index, temporary files left in
               indexes/, and sampled images finding themselves first.
- concurrency: five commands opening a brand-new workspace at once (five tries), and searches, an export and
               a mining run while an `index` run is adding images.
- hostile:     arguments a user or a script could pass by mistake or on purpose; each must end with exit 1
               and exactly one `stylelens: error:` line on stderr, no traceback, in bounded time, and leave
               the workspace as it was (and never touch a file it did not write).

    python scripts/check_reliability.py                 # both databases
    python scripts/check_reliability.py --databases sqlite --kills 4
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the throwaway PostgreSQL server the tests use
sys.path.insert(0, str(REPO))

CLI_TIMEOUT = 120  # seconds: a command that runs longer counts as a hang


@dataclass
class Round:
    """One row of the table."""

    name: str
    database: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def case(self, ok: bool, what: str) -> None:
        self.cases += 1
        if not ok:
            self.failures.append(what)


@dataclass
class Target:
    """A workspace folder, its database URL (None: SQLite inside the folder) and its corpus."""

    database: str
    home: Path
    db_url: str | None
    corpus: Path
    next_image: int = 0

    def args(self) -> list[str]:
        return ["--workspace", str(self.home)] + (["--db-url", self.db_url] if self.db_url else [])


# ------------------------------------------------------------------------------------------------ helpers


def cli(target: Target | None, *argv: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    """Run `stylelens ARGV` (with the target's workspace options appended) to completion."""
    cmd = [sys.executable, "-m", "ui.cli", *argv, *(target.args() if target else [])]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(cmd, -1, exc.stdout or "", f"TIMEOUT after {timeout} s")


def index_cmd(target: Target, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ui.cli", "index", str(target.corpus), "--corpus", "c", "--role", "both",
            "--profile", "tiny", "--batch-size", "4", "--workers", "1", *extra, *target.args()]


def add_images(target: Target, n: int) -> None:
    """n new random images (distinct, so each one finds itself first)."""
    rng = np.random.default_rng(target.next_image + 1000)
    for _ in range(n):
        arr = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
        Image.fromarray(arr).save(target.corpus / f"img{target.next_image:05d}.png")
        target.next_image += 1


def add_bad_files(root: Path) -> None:
    """Files indexing must record as failed and skip: empty, truncated, text named .jpg, a non-UTF-8 name."""
    (root / "empty.png").write_bytes(b"")
    good = root / "img00000.png"
    (root / "truncated.png").write_bytes(good.read_bytes()[:200])
    (root / "text.jpg").write_text("not an image\n")
    with open(os.path.join(os.fsencode(root), b"latin1-\xff.png"), "wb") as fh:
        fh.write(good.read_bytes())


def remove_images(target: Target, n: int) -> None:
    for path in sorted(target.corpus.glob("img*.png"))[:n]:
        path.unlink()


def count_indexed(target: Target) -> int:
    from sqlalchemy import create_engine, text

    from indexer.layout import WorkspaceLayout

    url = target.db_url or f"sqlite:///{WorkspaceLayout(target.home).catalog_file}"
    engine = create_engine(url)
    try:
        with engine.connect() as con:
            return int(con.execute(text("select count(*) from images where status = 'indexed'")).scalar() or 0)
    except Exception:  # noqa: BLE001 - not created yet, or locked for a moment
        return 0
    finally:
        engine.dispose()


def session_processes(sid: int) -> list[str]:
    """Live processes of session `sid` (a run started with start_new_session has sid = its pid)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{stat.parent.name} {name}")
    return found


def temporaries(target: Target) -> list[str]:
    from indexer.layout import WorkspaceLayout

    return sorted(p.name for p in WorkspaceLayout(target.home).index_dir.glob("*") if p.name.endswith(".tmp"))


def single_error_line(proc: subprocess.CompletedProcess) -> bool:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return (proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("stylelens: error:")
            and "Traceback" not in proc.stderr)


def fingerprint(target: Target) -> str:
    """What a failed command must not change: catalog status, settings, collections, runs, workspace files."""
    from indexer.status import workspace_status
    from indexer.workspace import Workspace
    from retrieval.collections import list_collections

    ws = Workspace.open(target.home, target.db_url)
    try:
        state = {"status": workspace_status(ws), "settings": ws.settings(),
                 "collections": list_collections(ws)}
    finally:
        ws.close()
    state["files"] = sorted(str(p.relative_to(target.home)) for p in target.home.rglob("*")
                            if "indexes" not in p.parts and not p.name.startswith("catalog.sqlite"))
    return json.dumps(state, sort_keys=True, default=str)


# ------------------------------------------------------------------------------------------------ kill


def kill_when(target: Target, trigger: Callable[[], bool], limit: float = 90.0) -> tuple[bool, int]:
    """Start an index run, SIGKILL its main process once `trigger()` holds; returns (killed mid-run, pid)."""
    proc = subprocess.Popen(index_cmd(target), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO)
    deadline, killed = time.monotonic() + limit, False
    while time.monotonic() < deadline and proc.poll() is None:
        if trigger():
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait(timeout=60)
    return killed, proc.pid


def kill_round(target: Target, kills: int) -> Round:
    row = Round("kill -9 at chosen moments", target.database)
    start = time.monotonic()
    moments: list[tuple[str, Callable[[], bool]]] = [
        ("at start-up", lambda: time.monotonic() - start > 0.5),
        *[(f"after {n} committed", (lambda n=n: count_indexed(target) >= base + n)) for n in (4, 12, 24, 40)],
        ("while a snapshot is written", lambda: bool(temporaries(target))),
        ("1.5 s into a run that also deletes", lambda: time.monotonic() - start > 1.5),
    ]
    for i in range(kills):
        label, trigger = moments[i % len(moments)]
        add_images(target, 48)
        if "deletes" in label:
            remove_images(target, 6)
        for _attempt in range(3):  # a short moment (a snapshot's write) can pass between two polls: try again
            base, start = count_indexed(target), time.monotonic()
            killed, pid = kill_when(target, trigger)
            if killed:
                break
            add_images(target, 24)
        time.sleep(2.0)
        alive = session_processes(pid)
        row.case(killed and not alive, f"{label}: {'killed' if killed else 'finished before the moment'}"
                 f"{'; alive: ' + ', '.join(alive) if alive else ''}")
        if alive:
            row.leftovers.append(f"{len(alive)} process(es) after '{label}'")
            os.killpg(pid, signal.SIGKILL)
    done = subprocess.run(index_cmd(target, "--json"), capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    row.case(done.returncode == 0, f"the completing run failed: {done.stderr.strip()[-300:]}")
    check_whole(target, row)
    return row


def check_whole(target: Target, row: Round, sample: int = 40) -> None:
    """Every file once, catalog == vectors == indexes, no temporaries, sampled images find themselves."""
    from sqlalchemy import func, select

    from indexer.catalog.schema import ImageRecord
    from indexer.consistency import check_consistency
    from indexer.workspace import Workspace
    from retrieval.query import QueryTerm
    from retrieval.search import search

    ws = Workspace.open(target.home, target.db_url)
    try:
        report = check_consistency(ws)
        row.case(report.ok, "inconsistent: " + "; ".join(report.problems))
        with ws.session() as s:
            paths = list(s.scalars(select(ImageRecord.path)))
            failed = s.scalar(select(func.count()).select_from(ImageRecord).where(ImageRecord.status == "failed"))
        # the catalog keeps a non-UTF-8 name with its bad bytes written as \\xNN
        on_disk = {p.decode("utf-8", "backslashreplace") for p in os.listdir(os.fsencode(target.corpus))}
        names = [os.path.basename(p) for p in paths]
        row.case(len(names) == len(set(names)), f"{len(names) - len(set(names))} file(s) catalogued twice")
        row.case(set(names) == on_disk, f"catalog and folder differ by {sorted(set(names) ^ on_disk)[:4]}")
        row.case(failed >= 4, f"only {failed} bad files recorded as failed")
        ids = sorted(report.indexed)
        picks = [ids[int(j)] for j in np.linspace(0, len(ids) - 1, min(sample, len(ids)))] if ids else []
        misses = sum(1 for i in picks
                     if [h.id for h in search(ws, [QueryTerm("id", i)], k=1, collapse=False)] != [i])
        row.case(misses == 0, f"{misses} of {len(picks)} sampled images did not find themselves first")
    finally:
        ws.close()
    tmp = temporaries(target)
    row.case(not tmp, f"temporary files left in indexes/: {tmp}")
    if tmp:
        row.leftovers.append(f"{len(tmp)} temporary file(s)")


# ------------------------------------------------------------------------------------------------ concurrency


def fresh_workspace_race(make: Callable[[int], Target], row: Round, tries: int = 5, width: int = 5) -> None:
    """`width` commands open one brand-new workspace at once: all must succeed."""
    for t in range(tries):
        target = make(t)
        cmd = [sys.executable, "-m", "ui.cli", "status", "--json", *target.args()]
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
                 for _ in range(width)]
        errors = [p.communicate(timeout=CLI_TIMEOUT)[1] for p in procs]
        bad = [e.strip().splitlines()[-1] for p, e in zip(procs, errors) if p.returncode != 0]
        row.case(not bad, f"fresh workspace, try {t}: {len(bad)} of {width} failed: {bad[:1]}")


def during_indexing(target: Target, row: Round) -> None:
    """Searches, an export and a mining run while `index` adds images: none may fail."""
    from indexer.workspace import Workspace
    from retrieval.collections import add_images as add_to_collection
    from retrieval.collections import create_collection

    ws = Workspace.open(target.home, target.db_url)
    try:
        with ws.session() as s:
            from sqlalchemy import select

            from indexer.catalog.schema import ImageRecord

            ids = list(s.scalars(select(ImageRecord.id).where(ImageRecord.status == "indexed")
                                 .order_by(ImageRecord.id).limit(12)))
        name = f"during-{int(time.time())}"
        create_collection(ws, name)
        add_to_collection(ws, name, ids, added_by="reliability")
    finally:
        ws.close()
    add_images(target, 120)
    proc = subprocess.Popen(index_cmd(target), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=REPO)
    out = Path(tempfile.mkdtemp(prefix="export-"))
    jobs = [("search", ["search", "--like", str(ids[0]), "-k", "5", "--json"]),
            ("search style", ["search", "--like", str(ids[1]), "--space", "style", "-k", "5", "--json"]),
            ("export", ["export", name, str(out / "x"), "--format", "folder"]),
            ("mine-triplets", ["mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c", "-k", "5",
                               "--allow-self", "--run", name]),
            ("search again", ["search", "--like", str(ids[2]), "-k", "5", "--json"])]
    for label, argv in jobs:
        res = cli(target, *argv)
        row.case(res.returncode == 0, f"{label} during indexing: {res.stderr.strip()[-200:]}")
    _, err = proc.communicate(timeout=600)
    row.case(proc.returncode == 0, f"the index run beside them failed: {err.strip()[-200:]}")
    shutil.rmtree(out, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ hostile


def hostile_cases(target: Target, scratch: Path) -> list[tuple[str, list[str], Callable[[], str | None]]]:
    """(label, argv, extra check returning a failure sentence or None) for each hostile call."""
    victim = scratch / "victim"
    victim.mkdir(exist_ok=True)
    (victim / "thesis.txt").write_text("four years of work\n")
    outside = scratch / "escaped"
    long_name = "n" * 300
    many_terms = " + ".join(f"word{i}" for i in range(2500))

    def victim_intact() -> str | None:
        return None if (victim / "thesis.txt").exists() else "export --overwrite deleted the user's file"

    def nothing_outside() -> str | None:
        return "a run name wrote outside the workspace" if outside.exists() or any(
            p.name == "escaped" for p in target.home.parent.rglob("escaped")) else None

    from indexer.layout import WorkspaceLayout

    none: Callable[[], str | None] = lambda: None  # noqa: E731
    rel = os.path.relpath(outside, WorkspaceLayout(target.home).mining_dir)
    return [
        ("--like past int64", ["search", "--like", str(2**70)], none),
        ("--like past int32", ["search", "--like", "2147483648"], none),
        ("--like negative", ["search", "--like", "-5"], none),
        ("-k 100000000", ["search", "--like", "1", "-k", "100000000"], none),
        ("-k 5000000000", ["search", "--like", "1", "-k", "5000000000"], none),
        ("-k 0", ["search", "--like", "1", "-k", "0"], none),
        ("--collapse-threshold nan", ["search", "--like", "1", "--collapse-threshold", "nan"], none),
        ("--alpha inf", ["search", "--content", "x", "--style", "id:1", "--alpha", "inf"], none),
        ("2,500 query terms", ["search", many_terms], none),
        ("missing image", ["search", "--image", str(scratch / "nope.png")], none),
        ("corpus name of 300 characters", ["index", str(target.corpus), "--corpus", long_name, "--profile", "tiny"],
         none),
        ("index a missing folder", ["index", str(scratch / "nowhere"), "--corpus", "c", "--profile", "tiny"], none),
        ("untrainable index factory", ["index", str(target.corpus), "--corpus", "c", "--profile", "tiny",
                                       "--index-factory", "content=IVF4096,Flat"], none),
        ("unknown index factory", ["index", str(target.corpus), "--corpus", "c", "--profile", "tiny",
                                   "--index-factory", "content=NoSuchThing"], none),
        ("collection name of 300 characters", ["collection", "create", long_name], none),
        ("collection add to a missing collection", ["collection", "add", "nosuch", "--ids", "1"], none),
        ("collection add an id past int64", ["collection", "add", "nosuch", "--ids", str(2**64)], none),
        ("export into a user's folder with --overwrite", ["export", "nosuch", str(victim), "--format", "folder",
                                                          "--overwrite"], victim_intact),
        ("mining run name escaping the workspace", ["mine-triplets", "--train", "c", "--style-db", "c",
                                                    "--content-db", "c", "--run", rel], nothing_outside),
        ("mining an unknown corpus", ["mine-triplets", "--train", "nosuch", "--style-db", "c", "--content-db", "c",
                                      "--run", "r1"], none),
        ("stylize --seed 2**70", ["stylize", "--method", "fast", "--content", "1", "--style", "2", "--seed",
                                  str(2**70), "--out", str(scratch / "out")], none),
        ("stylize an unknown parameter", ["stylize", "--method", "fast", "--content", "1", "--style", "2",
                                          "--param", "nosuch=1", "--out", str(scratch / "out2")], none),
        ("regenerate a record past int64", ["regenerate", str(2**70), "--out", str(scratch / "out3")], none),
    ]


def hostile_round(target: Target, scratch: Path) -> Round:
    row = Round("hostile arguments", target.database)
    url_cases = [("--db-url postgres://", "postgres://u@localhost/x"), ("--db-url foo://", "foo://bar"),
                 ("--db-url missing driver", "mysql+nosuchdriver://u@localhost/x")]
    for label, url in url_cases:
        res = cli(None, "status", "--workspace", str(scratch / "url-ws"), "--db-url", url)
        row.case(single_error_line(res), f"{label}: rc {res.returncode}, stderr {res.stderr.strip()[-200:]!r}")
    for label, argv, extra in hostile_cases(target, scratch):
        before = fingerprint(target)
        started = time.monotonic()
        res = cli(target, *argv, timeout=60)
        took = time.monotonic() - started
        problem = extra()
        after = fingerprint(target)
        ok = single_error_line(res) and problem is None and after == before
        row.case(ok, f"{label}: rc {res.returncode} in {took:.0f} s, "
                     f"{'workspace changed, ' if after != before else ''}{problem or ''} "
                     f"stderr {res.stderr.strip()[-160:]!r}")
    # a failed command must not block the corrected one
    res = cli(target, "mine-triplets", "--train", "c", "--style-db", "c", "--content-db", "c", "-k", "5",
              "--allow-self", "--run", "r1")
    row.case(res.returncode == 0, f"the corrected mining run was refused: {res.stderr.strip()[-200:]}")
    res = subprocess.run(index_cmd(target), capture_output=True, text=True, cwd=REPO, timeout=600)
    row.case(res.returncode == 0, f"index after the failed --index-factory: {res.stderr.strip()[-200:]}")
    return row


# ------------------------------------------------------------------------------------------------ main


def print_table(rows: list[Round]) -> None:
    print(f"\n{'round':<28} {'database':<10} {'cases':>5} {'failures':>8}  leftovers")
    for r in rows:
        print(f"{r.name:<28} {r.database:<10} {r.cases:>5} {len(r.failures):>8}  {', '.join(r.leftovers) or '-'}")
    for r in rows:
        for f in r.failures:
            print(f"  FAIL [{r.name} / {r.database}] {f}")


def run_database(database: str, base: Path, kills: int, pg: object | None) -> list[Round]:
    home = base / database
    home.mkdir(parents=True)
    db_url = pg.create_database("rel_main") if pg is not None else None  # type: ignore[attr-defined]
    target = Target(database, home / "ws", db_url, home / "corpus")
    target.corpus.mkdir()
    add_images(target, 40)
    add_bad_files(target.corpus)
    rows = []
    print(f"[{database}] kill rounds ...", flush=True)
    rows.append(kill_round(target, kills))
    print(f"[{database}] concurrency ...", flush=True)
    conc = Round("concurrency", database)

    def fresh(t: int) -> Target:
        url = pg.create_database(f"rel_fresh{t}") if pg is not None else None  # type: ignore[attr-defined]
        return Target(database, home / f"fresh{t}", url, target.corpus)

    fresh_workspace_race(fresh, conc)
    during_indexing(target, conc)
    rows.append(conc)
    print(f"[{database}] hostile arguments ...", flush=True)
    scratch = home / "scratch"
    scratch.mkdir()
    rows.append(hostile_round(target, scratch))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--kills", type=int, default=11, help="kill -9 runs per database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and print its path")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="stylelens-reliability-"))
    base.chmod(0o755)  # the PostgreSQL server runs as `postgres` and keeps its files below
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows: list[Round] = []
    started = time.monotonic()
    try:
        for database in args.databases.split(","):
            pg = None
            if database == "postgres":
                from pg_server import PgServer, find_pg_bin

                bin_dir = find_pg_bin()
                if bin_dir is None:
                    print("PostgreSQL is not installed: skipping it")
                    continue
                pg = PgServer(base / "pg", bin_dir, port=56000 + os.getpid() % 1000)
                pg.start()
            try:
                rows += run_database(database, base, args.kills, pg)
            finally:
                if pg is not None:
                    pg.stop()
    finally:
        if args.keep:
            print(f"scratch kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print_table(rows)
    print(f"\n{sum(r.cases for r in rows)} cases, {sum(len(r.failures) for r in rows)} failures, "
          f"{time.monotonic() - started:.0f} s")
    return 1 if any(r.failures for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
