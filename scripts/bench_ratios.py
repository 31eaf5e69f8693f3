#!/usr/bin/env python3
"""Print plasma-vs-baseline ratios from a Google Benchmark JSON file.

Usage: scripts/bench_ratios.py build/bench.json [--markdown]

Benchmarks are named `<workload>/<implementation>[/<args>...]`, e.g.
`point_get/plasma`, `point_get/lmdb`, `insert_batch/plasma/1000`. Entries with
the same workload and the same trailing args are compared with each other.

For each benchmark the median aggregate is used when the run has repetitions
(`--benchmark_repetitions=N`), otherwise the single run (several plain
repetitions without aggregates: their median is taken here).

Ratio = how plasma compares to a baseline, > 1 means plasma is faster:
  plasma items_per_second / baseline items_per_second   when both report items/s
  baseline real time / plasma real time                  otherwise
Standard library only.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass

PLASMA = "plasma"
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


@dataclass
class Result:
    workload: str
    implementation: str
    real_time_ns: float | None
    items_per_second: float | None
    error: str | None = None


def run_name(entry: dict) -> str:
    """The name without aggregate suffixes (`_median`) — Google Benchmark's run_name."""
    name = entry.get("run_name")
    if name:
        return name
    name = entry.get("name", "")
    agg = entry.get("aggregate_name")
    if agg and name.endswith("_" + agg):
        name = name[: -len(agg) - 1]
    return name


def split_name(name: str) -> tuple[str, str] | None:
    """`workload/impl/arg...` -> (`workload[/arg...]`, `impl`); None if there is no impl."""
    parts = name.split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    workload = "/".join([parts[0]] + parts[2:])
    return workload, parts[1]


def to_ns(entry: dict) -> float | None:
    t = entry.get("real_time")
    if t is None:
        return None
    return float(t) * TO_NS.get(entry.get("time_unit", "ns"), 1.0)


def median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def collect(doc: dict) -> tuple[list[Result], list[str]]:
    medians: dict[str, dict] = {}
    runs: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}
    order: list[str] = []
    for entry in doc.get("benchmarks", []):
        name = run_name(entry)
        if name not in order:
            order.append(name)
        if entry.get("error_occurred"):
            errors[name] = entry.get("error_message", "error")
            continue
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[name] = entry
            continue
        runs.setdefault(name, []).append(entry)

    results: list[Result] = []
    skipped: list[str] = []
    for name in order:
        split = split_name(name)
        if split is None:
            skipped.append(name)
            continue
        workload, impl = split
        if name in errors:
            results.append(Result(workload, impl, None, None, errors[name]))
        elif name in medians:
            e = medians[name]
            results.append(Result(workload, impl, to_ns(e), e.get("items_per_second")))
        elif name in runs:
            rs = runs[name]
            results.append(
                Result(
                    workload,
                    impl,
                    median_or_none([to_ns(e) for e in rs]),
                    median_or_none([e.get("items_per_second") for e in rs]),
                )
            )
    return results, skipped


def ratio(plasma: Result, base: Result) -> tuple[float, str] | None:
    if plasma.error or base.error:
        return None
    if plasma.items_per_second and base.items_per_second:
        return plasma.items_per_second / base.items_per_second, "items/s"
    if plasma.real_time_ns and base.real_time_ns:
        return base.real_time_ns / plasma.real_time_ns, "time"
    return None


def fmt_time(ns: float | None) -> str:
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "-"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g}{suffix}/s"
    return f"{v:.3g}/s"


def build_rows(results: list[Result]) -> list[list[str]]:
    by_workload: dict[str, list[Result]] = {}
    for r in results:
        by_workload.setdefault(r.workload, []).append(r)
    rows: list[list[str]] = []
    for workload, group in by_workload.items():
        plasma = next((r for r in group if r.implementation == PLASMA), None)
        # plasma first, then the baselines in the order they ran.
        group.sort(key=lambda r: r.implementation != PLASMA)
        for r in group:
            if r.error:
                rows.append([workload, r.implementation, "error: " + r.error, "", ""])
                continue
            cell = ""
            if plasma is not None and r is not plasma:
                got = ratio(plasma, r)
                cell = f"{got[0]:.2f}x ({got[1]})" if got else "n/a"
            rows.append([workload, r.implementation, fmt_time(r.real_time_ns),
                         fmt_rate(r.items_per_second), cell])
    return rows


HEADER = ["workload", "implementation", "time/iter", "items/s", "plasma vs this"]


def print_table(rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "---|" * len(HEADER))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in [HEADER] + rows) for i in range(len(HEADER))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(HEADER))
    print(line(["-" * w for w in widths]))
    previous = None
    for row in rows:
        shown = list(row)
        if row[0] == previous:
            shown[0] = ""
        previous = row[0]
        print(line(shown))


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in argv[1:]
    if len(args) != 1 or "-h" in argv[1:] or "--help" in argv[1:]:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"bench_ratios: cannot read {args[0]}: {e}", file=sys.stderr)
        return 2
    results, skipped = collect(doc)
    if not results:
        print("bench_ratios: no benchmarks named <workload>/<implementation> found", file=sys.stderr)
        return 1
    print_table(build_rows(results), markdown)
    if skipped:
        print(f"\n(not compared, no /<implementation> in the name: {', '.join(skipped)})")
    ctx = doc.get("context", {})
    if ctx:
        print(f"\n{ctx.get('host_name', 'host')}: {ctx.get('num_cpus', '?')} CPUs, "
              f"{ctx.get('mhz_per_cpu', '?')} MHz, {ctx.get('date', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
