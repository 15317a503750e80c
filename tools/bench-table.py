#!/usr/bin/env python3
"""Prints bench-compare.sh's results (one JSON object per line, each with "label" and "side")
as a markdown table: per workload, etcd's and Capstan's throughput, latency and server CPU per
operation, with the Capstan ÷ etcd ratio. For watch workloads the operations are delivered
events and the latency is the put→event lag. A workload run several times per side (the
same label more than once) shows the median of each figure, and says so."""
import json
import statistics
import sys


def ratio(c, e):
    return f"{c / e:.2f}×" if e else "–"


def main(path):
    rows, order = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            if d["label"] not in rows:
                rows[d["label"]] = {}
                order.append(d["label"])
            rows[d["label"]].setdefault(d["side"], []).append(d)
    print("| workload | etcd ops/s | Capstan ops/s | ratio | etcd p50 / p99 ms | Capstan p50 / p99 ms | p50 ratio | etcd CPU-µs/op | Capstan CPU-µs/op | errors (etcd / Capstan) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label in order:
        es, cs = rows[label].get("etcd"), rows[label].get("capstan")
        if not es or not cs:
            continue
        e, c = median(es), median(cs)
        if len(es) > 1 or len(cs) > 1:
            label = f"{label}, median of {len(es)} / {len(cs)} runs"
        if e["workload"] == "rss":
            mb = lambda d: d["server_rss_bytes"] / 1048576
            print(f"| {label} | {mb(e):.0f} MiB | {mb(c):.0f} MiB | {ratio(mb(c), mb(e))} | | | | | | |")
            continue
        if e["workload"] == "seconds":
            print(f"| {label} | {e['seconds']:.2f} s | {c['seconds']:.2f} s | {ratio(c['seconds'], e['seconds'])} | | | | | | |")
            continue
        if e["workload"] == "check-perf":
            short = lambda d: d["check"].replace("\n", "; ") or "no result"
            print(f"| {label} | {short(e)} | {short(c)} | | | | | | | |")
            continue
        tp = lambda d: float(d.get("events_per_second", d["throughput"]))
        lat = lambda d: f'{d["latency_ms"]["p50"]:.2f} / {d["latency_ms"]["p99"]:.2f}'
        cpu = cpu_per_op
        cpus = lambda d: "–" if cpu(d) is None else (f"{cpu(d):.1f}" if cpu(d) >= 1 else f"{cpu(d):.3f}")
        cpu_ratio = f" ({ratio(cpu(c), cpu(e))})" if cpu(e) and cpu(c) else ""
        print(f"| {label} | {tp(e):,.0f} | {tp(c):,.0f} | {ratio(tp(c), tp(e))} | {lat(e)} | {lat(c)} | "
              f"{ratio(c['latency_ms']['p50'], e['latency_ms']['p50'])} | {cpus(e)} | {cpus(c)}{cpu_ratio} | {e['errors']} / {c['errors']} |")


def cpu_per_op(d):
    """Server CPU µs per operation, from the CPU seconds when the line has them (the rounded
    per-operation figure is too coarse for the watch rows' tenths of a µs)."""
    if d.get("server_cpu_seconds") is not None and d.get("ops"):
        return d["server_cpu_seconds"] * 1e6 / d["ops"]
    return d.get("server_cpu_us_per_op")


def median(runs):
    """One run's figures, or the median of each figure over several runs of a workload."""
    if len(runs) == 1:
        return runs[0]
    d = dict(runs[0])
    med = lambda xs: statistics.median(xs) if xs else None
    tp = [float(r.get("events_per_second", r.get("throughput", 0))) for r in runs]
    d["events_per_second"] = d["throughput"] = med(tp)
    cpu = [cpu_per_op(r) for r in runs if cpu_per_op(r) is not None]
    d["server_cpu_us_per_op"] = med(cpu)
    d.pop("server_cpu_seconds", None)
    d["latency_ms"] = {k: med([r["latency_ms"][k] for r in runs]) for k in ("p50", "p99")}
    d["errors"] = sum(r["errors"] for r in runs)
    return d


if __name__ == "__main__":
    main(sys.argv[1])
