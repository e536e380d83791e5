"""Output of `scripts/bench_quality.py`: the figures as readable tables, and a picture of a few queries.

Plain formatting only (no library calls), so the benchmark's measuring code stays short.
"""
from __future__ import annotations

import os
from pathlib import Path

from quality_corpus import Item

SPACES = ("content", "style")


def print_report(r: dict) -> None:
    """The figures as readable tables."""
    c, top, joint_k = r["corpus"], r["settings"]["top"], r["settings"]["joint_k"]
    print(f"\n== corpus: {c['photos']} photos x (plain + {c['styles']} styles) + {c['copies']} near-duplicate copies"
          f" = {c['images']} images indexed; styles: {', '.join(c['style_names'])}")
    t = r["timings"]
    print(f"   rendered {t['rendered']} files in {t['render_s']} s; indexed {t['indexed']} in {t['index_s']} s "
          f"(profile {t['profile']}); searches {t['search_s']} s")
    print(f"\n== ranking quality (AP@{top}; mAP over the whole list; found@{top}: share of the relevant in the top {top})")
    print(f"   {'':42}{'collapse':>9}{f'AP@{top}':>8}{'mAP':>8}{f'found@{top}':>10}{'queries':>9}")
    for name, key in (("style: query stylised, --space style", "style"),
                      ("content across styles, --space content", "content")):
        for collapse in ("no_collapse", "collapse"):
            v = r[key][collapse]
            print(f"   {name:<42}{'on' if collapse == 'collapse' else 'off':>9}{v['ap40']:>8.3f}{v['map']:>8.3f}"
                  f"{v['found40']:>10.2f}{v['queries']:>9}")
    print(f"   per style, --space style{'AP@' + str(top) + ' off':>28}{'on':>8}{'found@' + str(top) + ' off':>16}{'on':>8}")
    for s, v in r["style"]["no_collapse"]["per_style"].items():
        w = r["style"]["collapse"]["per_style"][s]
        print(f"     {s:<25}{v['ap40']:>26.3f}{w['ap40']:>8.3f}{v['found40']:>16.2f}{w['found40']:>8.2f}")
    print(f"\n== joint search (k={joint_k}; target: the content photo rendered in the style query's style)")
    for key in ("no_collapse", "collapse"):
        for variant, v in r["joint"][key].items():
            instead = ", ".join(f"{k} {n}" for k, n in sorted(v["rank1_instead"].items(), key=lambda x: -x[1]))
            print(f"   {key:<11} content={variant:<9} hit@1 {v['hit1']:.3f}  MRR@10 {v['mrr10']:.3f}  "
                  f"({v['queries']} queries)  rank 1 instead: {instead or '-'}")
    by_style = r["joint"]["collapse"].get("plain", {}).get("hit1_by_style", {})
    if by_style:
        print("   hit@1 by target style (collapse, content=plain): "
              + "  ".join(f"{k} {v:.2f}" for k, v in by_style.items()))
    print(f"\n== near-duplicate collapse (every image as a query, top {top} uncollapsed results)")
    for space in SPACES:
        d = r["duplicates"][space]
        print(f"   --space {space:<8} precision {d['precision']:.3f}  recall {d['recall']:.3f}  "
              f"(should fold {d['should_fold']}, folded {d['folded']}, correct {d['correct']}); recall by copy: "
              + ", ".join(f"{k} {v:.2f}" for k, v in d["recall_by_kind"].items()))
        if d["wrong_folds_by_style"]:
            print("      wrong folds by style of the folded image: "
                  + ", ".join(f"{k} {n}" for k, n in d["wrong_folds_by_style"].items()))
    print("\n== cosine distributions of labelled pairs")
    cols = ("n", "min", "p5", "p25", "p50", "p75", "p95", "max")
    for space, classes in r["cosines"]["spaces"].items():
        print(f"   {space:<29}" + "".join(f"{h:>8}" for h in cols))
        for name, st in classes.items():
            print(f"     {name:<27}" + "".join(f"{st.get(h, float('nan')):>8.3f}" if h != "n" else f"{st['n']:>8}"
                                            for h in cols))
    use = r["cosines"].get("rule_in_use")
    if use:
        rule = " AND ".join(f"{sp} >= {t:.3f}" for sp, t in use["thresholds"].items())
        print(f"   calibration, pairs, the rule in use '{rule}': folds {use['recall']:.3f} of the true pairs and "
              f"{use['false_pairs']} other pairs" + _by_class(use["false_pairs_by_class"]))
    for rule in r["cosines"].get("best_rules", []):
        cond = " AND ".join(f"{sp} >= {t:.3f}" for sp, t in rule["thresholds"].items())
        print(f"   best for pair recall >= {rule['recall_target']:.2f} with {'+'.join(rule['spaces'])}: '{cond}' folds "
              f"{rule['recall']:.3f} of the true pairs and {rule['false_pairs']} other pairs")
    hard = r["cosines"].get("hardest_pairs", {})
    for title, key in (("true near-duplicates nearest to failing the rule in use", "lowest_duplicates"),
                       ("non-duplicates nearest to passing it", "hardest_non_duplicates")):
        if hard.get(key):
            print(f"   {title} ({', '.join(hard['spaces'])}):")
            for a, b, *v in hard[key]:
                print(f"     {a:<30} {b:<30} " + "  ".join(f"{x:.3f}" for x in v))
    print("   content cosine of same-style/other-scene pairs, per style (p50 / max):  " + "  ".join(
        f"{s} {v['p50']:.2f}/{v['max']:.2f}" for s, v in r["cosines"]["same_style_other_scene_content_by_style"].items()
        if v["n"]))
    lat = r["latency"]
    print(f"\n== text queries: library first {lat['library']['first_s']} s, warm p50 {lat['library']['warm_p50_s']} s "
          f"(max {lat['library']['warm_max_s']} s, {lat['library']['queries']} queries; load average "
          f"{lat['library']['load_average_1min']} on {os.cpu_count()} cores); cold CLI "
          + (f"{lat['cli'].get('wall_s')} s" if "error" not in lat["cli"] else f"FAILED: {lat['cli']['error']}"))


def _by_class(counts: dict[str, int]) -> str:
    shown = ", ".join(f"{k} {n}" for k, n in counts.items() if n)
    return f" ({shown})" if shown else ""


def draw_grid(path: Path, corpus_dir: Path, rows: list[tuple[list[Item], list[tuple[Item, bool]]]],
              thumb: int = 128) -> None:
    """A PNG: per row, the query image(s) (blue frame), then the top results (green: relevant, red: not)."""
    from PIL import Image, ImageDraw

    width = max(len(q) + len(h) for q, h in rows)
    sheet = Image.new("RGB", (width * (thumb + 6), len(rows) * (thumb + 20)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (queries, hits) in enumerate(rows):
        cells = [(it, (40, 90, 220)) for it in queries] + [(it, (30, 160, 60) if ok else (210, 40, 40))
                                                           for it, ok in hits]
        for c, (it, colour) in enumerate(cells):
            with Image.open(corpus_dir / it.file) as im:
                tile = im.convert("RGB")
            tile.thumbnail((thumb, thumb))
            x, y = c * (thumb + 6) + 3, r * (thumb + 20) + 3
            draw.rectangle([x - 3, y - 3, x + tile.width + 2, y + tile.height + 2], outline=colour, width=3)
            sheet.paste(tile, (x, y))
            caption = it.file.removesuffix(".jpg").replace("__dup-", " dup ").replace("__", " ")
            draw.text((x, y + thumb + 3), caption[:24], fill="black")
    sheet.save(path)
