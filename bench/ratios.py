#!/usr/bin/env python3
"""Prints plasma's items_per_second over each baseline's, per workload.

Usage: bench/ratios.py out.json   (output of plasma_bench --benchmark_format=json
or --benchmark_out=...). Uses the `median` aggregate when the run had
repetitions, otherwise the median of the individual runs.
"""
import json
import statistics
import sys
from collections import defaultdict


def medians(benchmarks):
    aggregate = {}
    runs = defaultdict(list)
    for b in benchmarks:
        if b.get("error_occurred"):
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                aggregate[b["run_name"]] = b["items_per_second"]
        else:
            runs[b["run_name"]].append(b["items_per_second"])
    out = {name: statistics.median(v) for name, v in runs.items()}
    out.update(aggregate)
    return out


def main(path):
    with open(path) as f:
        rates = medians(json.load(f)["benchmarks"])
    by_workload = defaultdict(dict)
    for name, rate in rates.items():
        workload, _, impl = name.partition("/")
        by_workload[workload][impl] = rate
    for workload, impls in by_workload.items():
        for impl, rate in sorted(impls.items()):
            print(f"{workload}/{impl}: {rate:,.0f} items/s")
        plasma = impls.get("plasma")
        if plasma is None:
            continue
        for impl, rate in sorted(impls.items()):
            if not impl.startswith("plasma") and rate > 0:
                print(f"  ratio {workload} plasma/{impl} = {plasma / rate:.3f}x")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out.json")
