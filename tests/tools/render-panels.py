#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Plot panels of a Grafana dashboard JSON from a Prometheus, as a PNG (for reviewers).

  render-panels.py DASHBOARD.json --prom URL --service NAME --out FILE.png
                   [--panel TITLE]... [--seconds 60] [--step 1] [--rate-interval 10s]

Each --panel (default: the first two panels with queries) is one plot; its queries go to
/api/v1/query_range over the last --seconds, one line per series, named by the
target's legendFormat as Grafana would. Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request


def panels_of(dash):
    for p in dash.get("panels", []):
        yield p
        yield from p.get("panels", [])


def substitute(expr, a):
    for k, v in (("namespace", a.namespace), ("service", a.service), ("port", a.port),
                 ("__rate_interval", a.rate_interval)):
        expr = expr.replace("${%s}" % k, v).replace("$" + k, v)
    return expr


def query_range(prom, expr, start, end, step):
    url = prom.rstrip("/") + "/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(url, timeout=20) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError(doc.get("error", doc))
    return doc["data"]["result"]


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt) or str(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("--prom", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--port", default=".*")
    ap.add_argument("--out", required=True)
    ap.add_argument("--panel", action="append", default=[])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--step", type=float, default=1)
    ap.add_argument("--rate-interval", default="10s")
    a = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("Error: render-panels: matplotlib is not installed", file=sys.stderr)
        print("Hint: apt-get install python3-matplotlib", file=sys.stderr)
        return 1
    dash = json.load(open(a.dashboard))
    with_queries = [p for p in panels_of(dash) if p.get("targets")]
    chosen = [p for t in a.panel for p in with_queries if p["title"] == t] if a.panel else with_queries[:2]
    if not chosen or len(chosen) != max(len(a.panel), len(chosen)):
        print("Error: render-panels: no panel titled %s" % a.panel, file=sys.stderr)
        return 1
    end = time.time()
    start = end - a.seconds
    fig, axes = plt.subplots(len(chosen), 1, figsize=(10, 3.6 * len(chosen)), squeeze=False)
    colors = {}  # one colour per track (or per series key) across a panel's queries
    for ax, p in zip(axes[:, 0], chosen):
        n = 0
        for t in p["targets"]:
            for s in query_range(a.prom, substitute(t["expr"], a),
                                 start, end, a.step):
                xs = [float(v[0]) - end for v in s["values"]]
                ys = [float(v[1]) for v in s["values"]]
                key = s["metric"].get("track") or legend(t.get("legendFormat", ""), s["metric"])
                color = colors.setdefault(key, "C%d" % (len(colors) % 10))
                ax.plot(xs, ys, label=legend(t.get("legendFormat", ""), s["metric"]), color=color,
                        linestyle="--" if t["refId"] in ("configured", "unanswered") else "-")
                n += 1
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        ax.set_title("%s (%s/%s)" % (p["title"], a.namespace, a.service))
        ax.set_xlabel("seconds before %s" % time.strftime("%H:%M:%S", time.localtime(end)))
        ax.set_ylabel({"percentunit": "share (0 to 1)", "cps": "per second"}.get(unit, unit))
        ax.grid(True, alpha=0.3)
        if n:
            ax.legend(fontsize="small", loc="best")
        print("# %s: %d series" % (p["title"], n))
    fig.tight_layout()
    fig.savefig(a.out, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
