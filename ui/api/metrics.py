"""Prometheus text-format metrics kept in process: requests by route and status, latency histograms."""
from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and a latency histogram per (method, route); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
        self._sums: dict[tuple[str, str], float] = defaultdict(float)
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self.in_flight = 0

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """A finished request (also ends what `started` began)."""
        with self._lock:
            self.in_flight -= 1
            self._requests[(method, route, status)] += 1
            key = (method, route)
            buckets = self._buckets[key]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sums[key] += seconds
            self._counts[key] += 1

    def render(self, gauges: dict[str, dict[str, float]] | None = None) -> str:
        """The exposition text (format 0.0.4); `gauges`: {metric: {'label="v"': value}}."""
        lines = ["# HELP stylelens_requests_total HTTP requests by method, route and status.",
                 "# TYPE stylelens_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(f'stylelens_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
            lines += ["# HELP stylelens_request_seconds Request latency.", "# TYPE stylelens_request_seconds histogram"]
            for (method, route), buckets in sorted(self._buckets.items()):
                labels = f'method="{method}",route="{_esc(route)}"'
                for bound, n in zip(BUCKETS, buckets):
                    lines.append(f'stylelens_request_seconds_bucket{{{labels},le="{bound}"}} {n}')
                count = self._counts[(method, route)]
                lines.append(f'stylelens_request_seconds_bucket{{{labels},le="+Inf"}} {count}')
                lines.append(f"stylelens_request_seconds_sum{{{labels}}} {self._sums[(method, route)]:.6f}")
                lines.append(f"stylelens_request_seconds_count{{{labels}}} {count}")
            lines += ["# HELP stylelens_requests_in_flight Requests being served.",
                      "# TYPE stylelens_requests_in_flight gauge", f"stylelens_requests_in_flight {self.in_flight}"]
        for metric, values in (gauges or {}).items():
            lines.append(f"# TYPE {metric} gauge")
            lines += [f"{metric}{{{labels}}} {value}" if labels else f"{metric} {value}" for labels, value in values.items()]
        return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
