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
        if b.get("error_occurred") or "items_per_second" not in b:
            continue  # failed, or a latency-only workload (pokes): no rate to compare
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
            # Live workloads: one item is one transaction; show its time too.
            per_item = f" ({1e6 / rate:,.1f} us/item)" if workload.startswith("live_") and rate > 0 else ""
            print(f"{workload}/{impl}: {rate:,.0f} items/s{per_item}")
        # The reference side is `plasma`; the live workloads compare
        # `plasma_ivm` with the other plasma implementations (plasma_rerun).
        if "plasma" in impls:
            ref, baselines = "plasma", [i for i in impls if not i.startswith("plasma")]
            # A plasma-only variant of a workload (pull1000_fbs: another
            # encoding) is compared with the base workload's baselines.
            base = workload.rsplit("_", 1)[0]
            if not baselines and base != workload and base in by_workload:
                for impl in sorted(i for i in by_workload[base] if not i.startswith("plasma")):
                    rate = by_workload[base][impl]
                    if rate > 0:
                        print(f"  ratio {workload} plasma/{base}/{impl} = {impls['plasma'] / rate:.3f}x")
                continue
        elif "plasma_ivm" in impls:
            ref, baselines = "plasma_ivm", [i for i in impls if i != "plasma_ivm"]
        else:
            continue
        for impl in sorted(baselines):
            rate = impls[impl]
            if rate > 0:
                print(f"  ratio {workload} {ref}/{impl} = {impls[ref] / rate:.3f}x")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out.json")
