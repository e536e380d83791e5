"""`stylelens search --explain`: what the query's text terms resolved to, and a warning for weak matches.

Output contract (kept backwards-compatible):
* a weak-match warning (best label similarity below the reader's threshold) always goes to stderr, one line
  per weak term, so `--json` stdout and the human result lines are unchanged;
* with --explain in human mode, the full explanation (labels, similarities, weights) goes to stderr too;
* with --explain --json, stdout becomes one object `{"results": [...the usual hit list...], "explain": [...]}`;
  without --explain, `--json` prints the hit list exactly as before.
"""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from retrieval.explain import TextExplanation, weak_terms


def print_explanations(args: argparse.Namespace, explanations: list[TextExplanation],
                       out: TextIO | None = None) -> None:
    """Warnings for weak matches (always), and with --explain in human mode the whole explanation."""
    out = out or sys.stderr
    if args.explain and not args.json:
        for e in explanations:
            print(format_explanation(e), file=out)
    for e in weak_terms(explanations):
        print(f"stylelens: warning: {e.warning}", file=out)


def with_explanations(args: argparse.Namespace, results: list[dict],
                      explanations: list[TextExplanation]) -> list[dict] | dict:
    """The --json payload: the hit list as before, or `{"results", "explain"}` with --explain."""
    if not args.explain:
        return results
    return {"results": results, "explain": [e.to_dict() for e in explanations]}


def format_explanation(e: TextExplanation) -> str:
    """Human form: one header line, then one line per label."""
    where = f"{e.space} space" + (" (style of the images this text finds in content)" if e.via_exemplars else "")
    sign = "" if e.term_weight == 1 else f" (weight {e.term_weight:+g})"
    if e.method != "labels":
        return f"explain: {e.text!r}{sign} in {where}: read directly by {e.reader} (open vocabulary)"
    verdict = "WEAK MATCH" if e.weak else "ok"
    lines = [f"explain: {e.text!r}{sign} in {where} -> {len(e.labels)} of {e.labels_known} labels of {e.reader}; "
             f"best similarity {e.best_similarity:.3f} ({verdict}; weak below {e.weak_below:.2f})"]
    lines += [f"  {m.weight:6.1%}  {m.label:<32} similarity {m.similarity:.3f}" for m in e.labels]
    return "\n".join(lines)
