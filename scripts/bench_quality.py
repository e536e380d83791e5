#!/usr/bin/env python
"""Search quality and text-query latency of StyleLens on a labelled corpus (issue 17).

The corpus (`scripts/quality_corpus.py`): real photos that ship with installed packages, each rendered in
labelled styles (built-in styles of the `fast` stylizer and hand-made filters, each rendering with its own
small random crop), plus near-duplicate copies (resized, JPEG re-encoded, cropped). It is indexed with
`index_paths` into a scratch workspace with the offline `starter` profile, then measured only through the
public functions `retrieval.search.search` / `joint_search`, so the same script measures later fixes:

* style AP@40 / mAP -- query: each stylised image (`--space style`); relevant: the other photos in its style.
* content AP@40 / mAP across styles -- query: each stylised image (`--space content`); relevant: the same
  photo in its other styles and as the plain photo.
  Both rank *groups* (an image and its near-duplicate copies count once, the query's own group not at all),
  so a collapse that folds only true near-duplicates scores exactly what no collapse scores.
* joint hit@1 / MRR@10 -- content: a photo (its plain version, or a rendering in another style); style:
  another photo rendered in style S; target: the photo rendered in S (or a copy of it). Raw result ranks.
* near-duplicate collapse precision / recall -- for every image as a query, in both spaces: a result of the
  uncollapsed top 40 that a better-ranked result of its own group precedes should be folded (recall); a
  folded one should be such a result (precision).
* cosine distributions of near-duplicate pairs and of same-style / other-scene pairs, per space: the evidence
  for per-encoder near-duplicate thresholds.
* text-query latency: warm library p50 (after one warm-up query) and a cold `stylelens search` subprocess.

Usage:
  python scripts/bench_quality.py                            # 14 photos x (plain + 10 styles) + 28 copies
  python scripts/bench_quality.py --photos 3 --styles 3      # a smoke run, about a minute
  python scripts/bench_quality.py --workspace /tmp/q17 --json q17.json --grid q17.png   # keeps /tmp/q17
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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from quality_corpus import ORIGINAL, PHOTOS, STYLES, Item, build_corpus  # noqa: E402
from quality_report import draw_grid, print_report  # noqa: E402

CORPUS = "bench"
TOP = 40  # AP@40, and the window of results the collapse is judged on
JOINT_K = 10
WARMUP_QUERY = "a dog"
TEXT_QUERIES = ["a cat", "a cup of coffee", "a rocket", "a motorcycle", "a flower", "a woman", "a pagoda",
                "a camera", "coins", "a brick wall"]
SPACES = ("content", "style")  # the spaces searched by example
SIGNALS = ("content", "style", "layout")  # the spaces a near-duplicate must be near-identical in
Rankings = dict[tuple[int, str, bool], list[int]]  # (query id, space, collapse) -> result ids, best first


@dataclass(frozen=True)
class JointQuery:
    content: int  # catalog id of the content query image
    style: int  # catalog id of the style query image
    target: str  # the group that should come first
    variant: str  # "plain" (content = the plain photo) or "rendering" (content = the photo in another style)


# --- corpus and index ---------------------------------------------------------------------------------

def prepare_workspace(root: Path, args: argparse.Namespace) -> tuple[object, list[Item], dict]:
    """Render the corpus and index it (both only as far as needed); returns (workspace, items, timings)."""
    from indexer.pipeline.run import index_paths
    from indexer.workspace import Workspace

    corpus_dir = root / "corpus"
    t0 = time.perf_counter()
    before = {p.name for p in corpus_dir.glob("*.jpg")} if corpus_dir.exists() else set()
    items = build_corpus(corpus_dir, args.photos, args.styles, seed=args.seed, progress=not args.quiet)
    render_s = time.perf_counter() - t0
    rendered = len({it.file for it in items} - before)
    ws = Workspace.open(root / "workspace")
    summary = index_paths(ws, [str(corpus_dir)], CORPUS, "both", profile="starter",
                          progress=not args.quiet)
    if summary.failed:
        print(f"warning: {summary.failed} files failed to index: {summary.failures[:3]}", file=sys.stderr)
    timings = {"rendered": rendered, "render_s": round(render_s, 1), "indexed": summary.added + summary.updated,
               "removed": summary.removed, "index_s": summary.seconds, "profile": summary.profile}
    return ws, items, timings


def label_catalog(ws, items: list[Item]) -> dict[int, Item]:  # noqa: ANN001 - Workspace
    """Catalog id -> corpus item, for every indexed image of the bench corpus."""
    from indexer.spaces import get_space
    from retrieval.catalog_lookup import corpus_vectors, image_refs

    ids, _ = corpus_vectors(ws, get_space(ws, "content"), CORPUS)
    by_file = {it.file: it for it in items}
    refs = image_refs(ws, [int(i) for i in ids])
    return {i: by_file[Path(r.path).name] for i, r in refs.items() if Path(r.path).name in by_file}


def rank_all(ws, labels: dict[int, Item], k: int, progress: bool = True) -> Rankings:  # noqa: ANN001
    """Every image as a query (`id:N`) in both spaces, with and without collapse."""
    from tqdm.auto import tqdm

    from retrieval.query import QueryTerm
    from retrieval.search import search

    out: Rankings = {}
    for q in tqdm(sorted(labels), desc="searching", unit="query", disable=not progress):
        for space in SPACES:
            for collapse in (False, True):
                hits = search(ws, [QueryTerm("id", q)], space=space, k=k, collapse=collapse)
                out[(q, space, collapse)] = [h.id for h in hits]
    return out


# --- metrics ------------------------------------------------------------------------------------------

def group_ranking(ids: list[int], labels: dict[int, Item], exclude: str) -> list[str]:
    """Result ids -> groups, each group once (at its best rank), without the query's own group."""
    seen: dict[str, None] = {}
    for i in ids:
        g = labels[i].group
        if g != exclude and g not in seen:
            seen[g] = None
    return list(seen)


def average_precision(ranked: list[str], relevant: set[str], cutoff: int | None = None) -> float:
    """AP of a ranked list; relevant items never retrieved count as misses. At a cutoff, normalised by
    min(|relevant|, cutoff) so a perfect top-`cutoff` scores 1."""
    if not relevant:
        return float("nan")
    ranked = ranked[:cutoff] if cutoff else ranked
    hits, total = 0, 0.0
    for rank, g in enumerate(ranked, 1):
        if g in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), cutoff or len(relevant))


def ranking_quality(rankings: Rankings, labels: dict[int, Item], space: str, same: str) -> dict:
    """Mean AP@TOP, mAP and found@TOP of every stylised (non-copy) image as a query in `space`.

    `same="style"`: relevant = other photos in the query's style; `same="photo"`: the query's photo in
    the other styles (and plain)."""
    sources = {it.group: it for it in labels.values() if not it.is_dup}
    queries = [i for i, it in labels.items() if not it.is_dup and it.style != ORIGINAL]
    out: dict = {}
    for collapse in (False, True):
        per_style: dict[str, list[tuple[float, float, float]]] = {}
        for q in queries:
            item = labels[q]
            relevant = {g for g, it in sources.items() if g != item.group and (
                (it.style == item.style and it.photo != item.photo) if same == "style" else it.photo == item.photo)}
            if not relevant:
                continue
            ranked = group_ranking(rankings[(q, space, collapse)], labels, item.group)
            found = len(relevant & set(ranked[:TOP])) / min(len(relevant), TOP)
            per_style.setdefault(item.style, []).append(
                (average_precision(ranked, relevant, TOP), average_precision(ranked, relevant), found))
        rows = [r for rs in per_style.values() for r in rs]
        out["collapse" if collapse else "no_collapse"] = {
            "queries": len(rows), "ap40": _mean(r[0] for r in rows), "map": _mean(r[1] for r in rows),
            "found40": _mean(r[2] for r in rows),
            "per_style": {s: {"ap40": _mean(r[0] for r in rs), "found40": _mean(r[2] for r in rs)}
                          for s, rs in per_style.items()}}
    return out


def joint_queries(labels: dict[int, Item], seed: int) -> list[JointQuery]:
    """For each photo p and stylised style S: content = p plain (and p in another style), style = another
    photo in S; target = p rendered in S."""
    rng = np.random.default_rng(seed)
    by_group = {it.group: i for i, it in labels.items() if not it.is_dup}
    photos = sorted({it.photo for it in labels.values()})
    styles = sorted({it.style for it in labels.values() if it.style != ORIGINAL})
    out = []
    for p in photos:
        for s in styles:
            others = [q for q in photos if q != p and f"{q}__{s}" in by_group]
            if f"{p}__{s}" not in by_group or not others:
                continue
            style_id = by_group[f"{others[int(rng.integers(len(others)))]}__{s}"]
            out.append(JointQuery(by_group[f"{p}__{ORIGINAL}"], style_id, f"{p}__{s}", "plain"))
            alt = [t for t in styles if t != s]
            if alt:
                out.append(JointQuery(by_group[f"{p}__{alt[int(rng.integers(len(alt)))]}"], style_id,
                                      f"{p}__{s}", "rendering"))
    return out


def joint_quality(ws, labels: dict[int, Item], queries: list[JointQuery], progress: bool = True) -> dict:  # noqa: ANN001
    """hit@1 and MRR@10 of each query variant, with and without collapse, and what took rank 1 instead."""
    from tqdm.auto import tqdm

    from retrieval.query import QueryTerm
    from retrieval.search import joint_search

    results: dict = {}
    for collapse in (False, True):
        key = "collapse" if collapse else "no_collapse"
        stats: dict[str, dict] = {}
        for jq in tqdm(queries, desc=f"joint ({key})", unit="query", disable=not progress):
            hits = joint_search(ws, [QueryTerm("id", jq.content)], [QueryTerm("id", jq.style)], k=JOINT_K,
                                collapse=collapse)
            groups = [labels[h.id].group for h in hits]
            rank = groups.index(jq.target) + 1 if jq.target in groups else None
            st = stats.setdefault(jq.variant, {"n": 0, "hit1": 0, "rr": 0.0, "instead": Counter(), "by_style": {}})
            st["by_style"].setdefault(jq.target.split("__", 1)[1], []).append(rank == 1)
            st["n"] += 1
            st["hit1"] += rank == 1
            st["rr"] += 1.0 / rank if rank else 0.0
            if rank != 1 and hits:
                st["instead"][_winner_kind(labels[hits[0].id], jq, labels)] += 1
        results[key] = {v: {"queries": st["n"], "hit1": st["hit1"] / st["n"], "mrr10": st["rr"] / st["n"],
                            "rank1_instead": dict(st["instead"]),
                            "hit1_by_style": {k: _mean(h) for k, h in st["by_style"].items()}}
                        for v, st in stats.items()}
    return results


def _winner_kind(top: Item, jq: JointQuery, labels: dict[int, Item]) -> str:
    """What a joint query returned first instead of its target."""
    content, style = labels[jq.content], labels[jq.style]
    if top.group == content.group:
        return "the content query"
    if top.group == style.group:
        return "the style query"
    target_photo, target_style = jq.target.split("__", 1)
    if top.photo == target_photo:
        return "same photo, other style"
    return "same style, other photo" if top.style == target_style else "other"


def collapse_quality(rankings: Rankings, labels: dict[int, Item], space: str) -> dict:
    """Fold precision / recall in the top TOP uncollapsed results of every image as a query in `space`.

    A result should be folded exactly when a better-ranked result belongs to its group (a true
    near-duplicate of it); it was folded when the collapsed list no longer holds it."""
    should = folded = right = 0
    kinds = {it.group: it.dup_kind for it in labels.values() if it.is_dup}
    by_kind: dict[str, list[int]] = {}
    wrong: Counter = Counter()
    for q in labels:
        kept = set(rankings[(q, space, True)])
        seen: set[str] = set()
        for j in rankings[(q, space, False)][:TOP]:
            g = labels[j].group
            dup, gone = g in seen, j not in kept
            seen.add(g)
            should += dup
            folded += gone
            right += dup and gone
            if dup:
                by_kind.setdefault(kinds.get(g, "?"), []).append(gone)
            elif gone:
                wrong[labels[j].style] += 1
    return {"should_fold": should, "folded": folded, "correct": right,
            "precision": right / folded if folded else float("nan"),
            "recall": right / should if should else float("nan"),
            "recall_by_kind": {k: _mean(v) for k, v in sorted(by_kind.items())},
            "wrong_folds_by_style": dict(wrong.most_common())}


def cosine_distributions(ws, labels: dict[int, Item]) -> dict:  # noqa: ANN001
    """Per space, cosine statistics of labelled pair classes, and how per-space thresholds separate them:
    the rule in use (every space at its registry threshold) and the best thresholds these pairs allow."""
    from indexer.spaces import get_space, list_spaces
    from retrieval.catalog_lookup import corpus_vectors
    from retrieval.duplicates import duplicate_thresholds

    classes = _pair_classes(labels)
    names = [sp.name for sp in list_spaces(ws) if sp.name in SIGNALS]
    cos = {}
    for space in names:
        ids, vecs = corpus_vectors(ws, get_space(ws, space), CORPUS)
        pos = {int(i): n for n, i in enumerate(ids)}
        sim = vecs @ vecs.T
        cos[space] = {name: np.array([sim[pos[a], pos[b]] for a, b in pairs]) for name, pairs in classes.items()}
    out: dict = {"spaces": {sp: {name: _stats(v) for name, v in d.items()} for sp, d in cos.items()}}
    if cos["content"]["near-duplicate"].size:
        thresholds = {k: v for k, v in duplicate_thresholds(ws).items() if k in cos}
        out["rule_in_use"] = {"thresholds": thresholds, **_rule_outcome(cos, thresholds)}
        out["best_rules"] = _best_rules(cos)
        out["hardest_pairs"] = _hardest_pairs(classes, cos, labels, thresholds)
    sstyle = classes["same style, other scene"]
    out["same_style_other_scene_content_by_style"] = {
        s: _stats(np.array([c for c, (a, _b) in zip(cos["content"]["same style, other scene"], sstyle)
                            if labels[a].style == s]))
        for s in sorted({labels[a].style for a, _b in sstyle})}
    return out


def _pair_matrix(cos: dict[str, dict[str, np.ndarray]], cls: str) -> np.ndarray:
    """(pairs, spaces) cosines of one pair class, spaces in `cos` order."""
    return np.stack([cos[sp][cls] for sp in cos], axis=1)


def _rule_outcome(cos: dict[str, dict[str, np.ndarray]], thresholds: dict[str, float]) -> dict:
    """Pair recall and the non-duplicate pairs folded (by class) when a pair must pass every threshold."""
    t = np.array([thresholds[sp] for sp in cos])
    dup = _pair_matrix(cos, "near-duplicate")
    false = {n: int(np.sum(np.all(_pair_matrix(cos, n) >= t, axis=1)))
             for n in cos["content"] if not n.startswith("near-dup")}
    return {"recall": float(np.mean(np.all(dup >= t, axis=1))), "false_pairs": sum(false.values()),
            "false_pairs_by_class": false}


def _best_rules(cos: dict[str, dict[str, np.ndarray]], targets: tuple[float, ...] = (1.0, 0.95)) -> list:
    """For each pair-recall target, the per-space thresholds (taken from the true near-duplicates' own values)
    that fold the fewest non-duplicate pairs, for the content and style spaces alone and with every space."""
    dup = _pair_matrix(cos, "near-duplicate")
    neg = np.concatenate([_pair_matrix(cos, n) for n in cos["content"] if not n.startswith("near-dup")])
    out = []
    for used in ([0, 1], list(range(len(cos)))):
        grids = np.meshgrid(*[np.unique(dup[:, j]) for j in used], indexing="ij")
        combos = np.stack([g.ravel() for g in grids], axis=1)
        rules = []
        for t in combos:
            rec = float(np.mean(np.all(dup[:, used] >= t, axis=1)))
            rules.append((rec, int(np.sum(np.all(neg[:, used] >= t, axis=1))), t))
        for target in targets:
            rec, false, t = min((r for r in rules if r[0] >= target - 1e-9), key=lambda r: (r[1], -r[0]))
            names = list(cos)
            out.append({"spaces": [names[j] for j in used], "recall_target": target, "recall": round(rec, 4),
                        "false_pairs": false, "thresholds": {names[j]: round(float(v), 4) for j, v in zip(used, t)}})
    return out


def _hardest_pairs(classes: dict[str, list[tuple[int, int]]], cos: dict[str, dict[str, np.ndarray]],
                   labels: dict[int, Item], thresholds: dict[str, float], n: int = 6) -> dict[str, list]:
    """The true near-duplicates nearest to failing the rule in use, and the non-duplicates nearest to passing
    it (by the smallest margin over the spaces): the cases a calibration must split."""
    t = np.array([thresholds[sp] for sp in cos])

    def rows(pairs: list, values: np.ndarray, worst_first: bool) -> list:
        margin = np.min(values - t, axis=1)
        order = np.argsort(margin if worst_first else -margin, kind="stable")[:n]
        return [[labels[pairs[i][0]].file.removesuffix(".jpg"), labels[pairs[i][1]].file.removesuffix(".jpg"),
                 *[round(float(v), 4) for v in values[i]]] for i in order]

    others = [n for n in cos["content"] if not n.startswith("near-dup")]
    neg_pairs = [p for name in others for p in classes[name]]
    neg = np.concatenate([_pair_matrix(cos, name) for name in others])
    return {"spaces": list(cos), "lowest_duplicates": rows(classes["near-duplicate"], _pair_matrix(cos, "near-duplicate"), True),
            "hardest_non_duplicates": rows(neg_pairs, neg, False)}


def _pair_classes(labels: dict[int, Item]) -> dict[str, list[tuple[int, int]]]:
    """Unordered id pairs by relation: near-duplicates (also by copy kind), and non-copy pairs by what they share."""
    ids = sorted(labels)
    classes: dict[str, list[tuple[int, int]]] = {"near-duplicate": []}
    classes.update({f"near-dup: {k}": [] for k in ("resized", "jpeg", "crop", "of a plain photo", "of a rendering")})
    for name in ("same style, other scene", "same scene, other style", "plain photos, other scene",
                 "other scene, other style"):
        classes[name] = []
    for n, a in enumerate(ids):
        for b in ids[n + 1:]:
            x, y = labels[a], labels[b]
            if x.group == y.group:
                classes["near-duplicate"].append((a, b))
                classes[f"near-dup: {x.dup_kind or y.dup_kind}"].append((a, b))
                classes["near-dup: of a plain photo" if x.style == ORIGINAL else "near-dup: of a rendering"].append((a, b))
            elif x.is_dup or y.is_dup:
                continue  # a copy relates to others exactly as its source does
            elif x.style == y.style:
                classes["plain photos, other scene" if x.style == ORIGINAL else "same style, other scene"].append((a, b))
            else:
                classes["same scene, other style" if x.photo == y.photo else "other scene, other style"].append((a, b))
    return classes


def _stats(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"n": 0}
    q = np.percentile(values, [0, 5, 25, 50, 75, 95, 100])
    return {"n": int(values.size), **{k: round(float(v), 4) for k, v in zip(
        ("min", "p5", "p25", "p50", "p75", "p95", "max"), q)}}


def _mean(values) -> float:  # noqa: ANN001 - any iterable of numbers
    v = [float(x) for x in values]
    return float(np.mean(v)) if v else float("nan")


# --- latency ------------------------------------------------------------------------------------------

def text_latency(ws) -> dict:  # noqa: ANN001
    """Library text queries in this process: the first (a warm-up), then the p50 of TEXT_QUERIES."""
    from retrieval.search import search

    load = os.getloadavg()[0]  # latency on a shared machine means little without it
    t0 = time.perf_counter()
    search(ws, WARMUP_QUERY, space="content", k=10)
    first = time.perf_counter() - t0
    times, top = [], {}
    for q in TEXT_QUERIES:
        t0 = time.perf_counter()
        hits = search(ws, q, space="content", k=10)
        times.append(time.perf_counter() - t0)
        top[q] = Path(hits[0].path).name if hits else None
    return {"first_s": round(first, 3), "warm_p50_s": round(float(np.median(times)), 3),
            "warm_max_s": round(max(times), 3), "queries": len(times), "load_average_1min": round(load, 1),
            "top_hit": top}


def cli_latency(home: Path, runs: int) -> dict:
    """Wall time of `stylelens search "a cat"` in a fresh process (the console script, else python -m ui.cli)."""
    exe = shutil.which("stylelens")
    cmd = [exe] if exe else [sys.executable, "-m", "ui.cli"]
    cmd += ["search", TEXT_QUERIES[0], "--workspace", str(home), "-k", "5"]
    walls, first_line = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        walls.append(round(time.perf_counter() - t0, 2))
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-500:], "wall_s": walls}
        first_line = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    return {"wall_s": walls, "command": " ".join(cmd), "first_result": first_line}


# --- grid ---------------------------------------------------------------------------------------------

def grid_rows(ws, labels: dict[int, Item], jqs: list[JointQuery]) -> list:  # noqa: ANN001
    """A neural and a filter style query, a content query and a joint query, top 6 with collapse on."""
    from retrieval.query import QueryTerm
    from retrieval.search import joint_search, search

    rows = []
    firsts = {}
    for i, it in sorted(labels.items()):
        if not it.is_dup and it.style != ORIGINAL:
            firsts.setdefault(it.kind, i)
    for kind, space in (("neural", "style"), ("filter", "style"), ("neural", "content")):
        if kind in firsts:
            q = labels[firsts[kind]]
            hits = search(ws, [QueryTerm("id", firsts[kind])], space=space, k=7)
            ok = (lambda h: h.style == q.style and h.photo != q.photo) if space == "style" else (
                lambda h: h.photo == q.photo and h.group != q.group)
            rows.append(([q], [(labels[h.id], ok(labels[h.id])) for h in hits if h.id != firsts[kind]][:6]))
    if jqs:
        jq = jqs[0]
        hits = joint_search(ws, [QueryTerm("id", jq.content)], [QueryTerm("id", jq.style)], k=6)
        rows.append(([labels[jq.content], labels[jq.style]], [(labels[h.id], labels[h.id].group == jq.target)
                                                              for h in hits]))
    return rows


# --- main ---------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=len(PHOTOS), help=f"photos in the corpus (1..{len(PHOTOS)})")
    p.add_argument("--styles", type=int, default=len(STYLES), help=f"styles per photo besides the plain one (1..{len(STYLES)})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workspace", type=Path, metavar="DIR",
                   help="keep the corpus and index here and reuse them next time (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    p.add_argument("--grid", type=Path, metavar="OUT.png", help="draw a few queries and their top results")
    p.add_argument("--cli-runs", type=int, default=1, help="cold `stylelens search` runs to time (0: none)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = args.workspace or Path(tempfile.mkdtemp(prefix="stylelens-quality-"))
    root = root.expanduser().resolve()
    ws = None
    try:
        ws, items, timings = prepare_workspace(root, args)
        labels = label_catalog(ws, items)
        t0 = time.perf_counter()
        rankings = rank_all(ws, labels, k=len(labels), progress=not args.quiet)
        jqs = joint_queries(labels, args.seed)
        joint = joint_quality(ws, labels, jqs, progress=not args.quiet)
        timings["search_s"] = round(time.perf_counter() - t0, 1)
        results = {
            "corpus": {"photos": args.photos, "styles": args.styles, "style_names": STYLES[:args.styles],
                       "copies": sum(it.is_dup for it in labels.values()), "images": len(labels),
                       "seed": args.seed},
            "settings": {"top": TOP, "joint_k": JOINT_K},
            "timings": timings,
            "style": ranking_quality(rankings, labels, "style", same="style"),
            "content": ranking_quality(rankings, labels, "content", same="photo"),
            "joint": joint,
            "duplicates": {sp: collapse_quality(rankings, labels, sp) for sp in SPACES},
            "cosines": cosine_distributions(ws, labels),
        }
        results["latency"] = {"library": text_latency(ws),
                              "cli": cli_latency(ws.home, args.cli_runs) if args.cli_runs else {"wall_s": []}}
        print_report(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=float))
        if args.grid:
            draw_grid(args.grid, root / "corpus", grid_rows(ws, labels, jqs))
            print(f"grid: {args.grid}")
    finally:
        if ws is not None:
            ws.close()
        if args.workspace is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"corpus and workspace kept in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
