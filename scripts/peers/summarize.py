#!/usr/bin/env python3
"""RESULT lines of `weir bench` and the peer programs -> one markdown table.

Usage: summarize.py [--reps N] [--targets SPEC] RAW_FILE...   (or RESULT lines on stdin)

One row per workload and metric, one column per stack (weir first), each cell the median
[min..max] over the runs; then the target of that row, if it has one, and whether weir's median
meets it. A RESULT line is `RESULT key=value ...` as `weir bench` prints it; peer=, test=, mtu=
and (gVisor) gomaxprocs=, (Linux) link= say which column and row it belongs to; lines with an
error= field are counted as failed runs.

Targets (--targets, or the TARGETS environment variable; scripts/bench_peers.sh passes it on):
space-separated WORKLOAD:METRIC:OP:VALUE, OP one of <= >=, VALUE a number or FACTOR*PEER with
PEER one of lwip, gvisor, linux: FACTOR times that peer's median in the same sitting (the peer's
best column where it has several, e.g. gVisor at GOMAXPROCS 2 and 1).
"""
import argparse
import os
import statistics
import sys
from collections import OrderedDict

# The workloads in the order of the table, and the metrics each shows (robust ones first).
METRICS = OrderedDict([
    ("bulk1500", [("cpu_per_gb", "CPU s per GB", "<="), ("gbps", "Gbit/s", ">=")]),
    ("bulk65535", [("gbps", "Gbit/s", ">="), ("cpu_per_gb", "CPU s per GB", "<=")]),
    ("rr", [("cpu_per_rt_us", "CPU µs per round trip", "<="), ("rt_per_s", "round trips/s", ">="),
            ("rtt_p99_us", "RTT p99 µs", "<=")]),
    ("crr", [("conn_per_s", "connections/s", ">="),
             ("cpu_per_conn_us", "CPU µs per connection", "<=")]),
    ("idle", [("per_pair", "bytes per connection pair", "<=")]),
])

WORKLOAD_TITLES = {
    "bulk1500": "bulk, MTU 1500",
    "bulk65535": "bulk, MTU 65535",
    "rr": "rr",
    "crr": "crr",
    "idle": "idle",
}

# One target per workload, on the metric that is robust on a noisy 2-core machine (the metrics
# of issue 9, item 7). Override with --targets or TARGETS.
# The data path's targets: half lwIP's CPU per GB at MTU 1500, 3x gVisor's throughput at MTU
# 65535, lwIP's CPU per round trip, 3x lwIP's connections per second, and 1 KiB per idle pair.
DEFAULT_TARGETS = ("bulk1500:cpu_per_gb:<=:0.5*lwip bulk65535:gbps:>=:3*gvisor "
                   "rr:cpu_per_rt_us:<=:1*lwip crr:conn_per_s:>=:3*lwip idle:per_pair:<=:1024")

PEER_TITLES = {"lwip": "lwIP", "gvisor": "gVisor", "linux": "Linux"}


def parse(line):
    fields = {}
    for token in line.split()[1:]:
        if "=" in token:
            key, value = token.split("=", 1)
            fields[key] = value
    return fields


def num(fields, key):
    try:
        return float(fields[key])
    except (KeyError, ValueError):
        return None


def workload(fields):
    test = fields.get("test")
    if test == "bulk":
        mtu = fields.get("mtu", "")
        return "bulk65535" if mtu in ("65535", "65536") else "bulk" + mtu
    return test


def column(fields):
    """The table column of a RESULT line: (key, title)."""
    peer = fields.get("peer", "?")
    if peer == "weir":
        return "weir", "weir (1 thread)"
    if peer == "lwip":
        return "lwip", "lwIP (1 thread)"
    if peer == "gvisor":
        procs = fields.get("gomaxprocs", "?")
        link = fields.get("link", "channel")
        suffix = "" if link == "channel" else ", " + link
        return "gvisor/%s/%s" % (procs, link), "gVisor (GOMAXPROCS %s%s)" % (procs, suffix)
    if peer == "linux":
        link = fields.get("link", "?")
        return "linux/" + link, "Linux (%s)" % link.replace("-nooffload", ", no offloads")
    return peer, peer


def derive(fields):
    cpu = num(fields, "cpu_s")
    test = fields.get("test")
    if test == "bulk" and cpu is not None and num(fields, "bytes"):
        fields["cpu_per_gb"] = cpu / (num(fields, "bytes") / 1e9)
    if test == "rr" and cpu is not None and num(fields, "n"):
        fields["cpu_per_rt_us"] = cpu * 1e6 / num(fields, "n")
    if test == "crr" and cpu is not None and num(fields, "n"):
        fields["cpu_per_conn_us"] = cpu * 1e6 / num(fields, "n")
    if test == "idle":
        per_pair = fields.get("rss_per_pair_bytes") or fields.get("slab_per_pair_bytes")
        if per_pair is not None:
            fields["per_pair"] = per_pair
    return fields


def fmt(x):
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    if abs(x) >= 1:
        return "%.2f" % x
    return "%.3g" % x


def parse_targets(spec):
    targets = {}
    for item in spec.split():
        parts = item.split(":")
        if len(parts) != 4 or parts[2] not in ("<=", ">="):
            sys.exit("summarize: bad target %r (want WORKLOAD:METRIC:<=|>=:VALUE)" % item)
        targets[(parts[0], parts[1])] = (parts[2], parts[3])
    return targets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=0, help="runs expected per cell")
    ap.add_argument("--targets", default=os.environ.get("TARGETS") or DEFAULT_TARGETS)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    targets = parse_targets(args.targets)

    lines = []
    sources = [open(p) for p in args.files] or [sys.stdin]
    for src in sources:
        lines += [l for l in src if l.startswith("RESULT ")]

    columns = OrderedDict()        # key -> title, weir first
    values = {}                    # (workload, metric, column) -> [values]
    failed = {}                    # (workload, column) -> count
    columns["weir"] = "weir (1 thread)"
    for line in lines:
        fields = derive(parse(line))
        key, title = column(fields)
        columns.setdefault(key, title)
        w = workload(fields)
        if "error" in fields:
            failed[(w, key)] = failed.get((w, key), 0) + 1
            continue
        for metric, _, _ in METRICS.get(w, []):
            v = num(fields, metric)
            if v is not None:
                values.setdefault((w, metric, key), []).append(v)

    def median(w, metric, key):
        vals = values.get((w, metric, key))
        return statistics.median(vals) if vals else None

    def reference(w, metric, op, peer):
        """The peer's best median for this row: the hardest reference it offers."""
        meds = [median(w, metric, k) for k in columns if k.split("/")[0] == peer]
        meds = [m for m in meds if m is not None]
        if not meds:
            return None
        return min(meds) if op == "<=" else max(meds)

    keys = list(columns)
    print("| workload | metric | " + " | ".join(columns[k] for k in keys) + " | target | met |")
    print("|---|---|" + "---|" * len(keys) + "---|---|")
    short = []
    for w, metrics in METRICS.items():
        if not any((w, m, k) in values for m, _, _ in metrics for k in keys):
            continue
        for metric, name, _ in metrics:
            cells = []
            for k in keys:
                vals = values.get((w, metric, k))
                if not vals:
                    cells.append("—")
                    continue
                cell = fmt(statistics.median(vals))
                if len(vals) > 1:
                    cell += " [%s..%s]" % (fmt(min(vals)), fmt(max(vals)))
                if args.reps and len(vals) < args.reps:
                    cell += " (%d of %d runs)" % (len(vals), args.reps)
                    short.append((w, k))
                cells.append(cell)
            target, met = "", ""
            if (w, metric) in targets:
                op, value = targets[(w, metric)]
                if "*" in value:
                    factor, peer = value.split("*", 1)
                    ref = reference(w, metric, op, peer)
                    label = "%s %s× %s" % ("≤" if op == "<=" else "≥", factor,
                                           PEER_TITLES.get(peer, peer))
                    bound = float(factor) * ref if ref is not None else None
                    target = label + (" = " + fmt(bound) if bound is not None else " (no run)")
                else:
                    bound = float(value)
                    target = ("≤ " if op == "<=" else "≥ ") + fmt(bound)
                mine = median(w, metric, "weir")
                if bound is None or mine is None:
                    met = "n/a"
                elif (mine <= bound) if op == "<=" else (mine >= bound):
                    met = "**yes**"
                else:
                    met = "no"
            print("| %s | %s | %s | %s | %s |" % (WORKLOAD_TITLES.get(w, w), name, " | ".join(cells),
                                                  target, met))
    for (w, k), count in sorted(failed.items()):
        print("\n%s, %s: %d run(s) failed (error= in the RESULT line)" % (columns[k], w, count))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
