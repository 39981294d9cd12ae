#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Run every panel query of a Grafana dashboard JSON against a Prometheus.

  dashboard-check.py DASHBOARD.json --prom URL --namespace NS --service NAME
                     [--port PORT] [--rate-interval 10s] [--share-tolerance 0.05]

Prints TAP lines ("ok - ..." / "not ok - ...", comments "# ..."): one for the
dashboard's model (what Grafana needs to import it), one per panel query (it returns
at least one series, and every l4split_* metric it names is one Prometheus has), one
per track of a panel with "configured" and "observed" queries (the observed share is
within the tolerance of the configured one), and one that the check itself rejects a
query naming a metric that does not exist. Exit 0 when every line is ok.
"""
import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request

METRIC = re.compile(r"\b(l4split_[a-z0-9_]+)\b")


def panels_of(dash):
    """Every panel, those inside collapsed rows too, in order."""
    for p in dash.get("panels", []):
        yield p
        for q in p.get("panels", []):
            yield q


def substitute(expr, a):
    """The dashboard's variables as Grafana gives them: a port of All is its allValue."""
    for k, v in (("namespace", a.namespace), ("service", a.service), ("port", a.port),
                 ("__rate_interval", a.rate_interval)):
        expr = expr.replace("${%s}" % k, v).replace("$" + k, v)
    return expr


def get(prom, path, **params):
    url = prom.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError("%s: %s" % (path, doc.get("error", doc)))
    return doc["data"]


def model_problems(dash):
    """What would stop Grafana importing the model, or its panels finding their data."""
    bad = []
    for k in ("title", "uid", "panels", "templating", "schemaVersion"):
        if k not in dash:
            bad.append("no %s" % k)
    if dash.get("id") is not None:
        bad.append("id is not null (import would overwrite dashboard %s)" % dash.get("id"))
    tv = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    if tv.get("datasource", {}).get("type") != "datasource" or \
            tv.get("datasource", {}).get("query") != "prometheus":
        bad.append("no Prometheus datasource variable 'datasource'")
    for v in ("namespace", "service", "port"):
        if tv.get(v, {}).get("type") != "query" or \
                "label_values(" not in str(tv.get(v, {}).get("query")):
            bad.append("no '%s' variable from label values" % v)
    ids = [p.get("id") for p in panels_of(dash)]
    if len(ids) != len(set(ids)) or None in ids:
        bad.append("panel ids missing or not unique: %s" % ids)
    for p in panels_of(dash):
        if "gridPos" not in p:
            bad.append("panel %r has no gridPos" % p.get("title"))
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            bad.append("panel %r does not use ${datasource}" % p.get("title"))
        refs = [t.get("refId") for t in p.get("targets", [])]
        if not refs or len(refs) != len(set(refs)) or None in refs:
            bad.append("panel %r: targets missing or refIds not unique" % p.get("title"))
    return bad


def check_query(prom, expr, known):
    """(ok, what) for one query: it returns series, and names only known metrics."""
    unknown = sorted(set(METRIC.findall(expr)) - known)
    if unknown:
        return False, "names metrics Prometheus does not have: %s" % ", ".join(unknown)
    try:
        data = get(prom, "/api/v1/query", query=expr)
    except Exception as e:  # a PromQL syntax error is a 400 with a message
        return False, "query failed: %s" % e
    if not data["result"]:
        return False, "returned no series"
    return True, "%d series" % len(data["result"])


def values_by_track(prom, expr):
    out = {}
    for s in get(prom, "/api/v1/query", query=expr)["result"]:
        out[s["metric"].get("track", "")] = float(s["value"][1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("--prom", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--service", required=True, help="the Kubernetes Service name")
    ap.add_argument("--port", default=".*", help="a Service port name, or .* (All)")
    ap.add_argument("--rate-interval", default="10s")
    ap.add_argument("--share-tolerance", type=float, default=0.05)
    a = ap.parse_args()
    dash = json.load(open(a.dashboard))
    fails = 0

    def tap(ok, what):
        nonlocal fails
        print(("ok - " if ok else "not ok - ") + what)
        fails += not ok

    bad = model_problems(dash)
    for b in bad:
        print("#   " + b)
    tap(not bad, "dashboard model: importable (datasource, namespace, service and port variables, ids, gridPos, refIds)")

    known = set(get(a.prom, "/api/v1/label/__name__/values"))
    queries = []
    for p in panels_of(dash):
        for t in p.get("targets", []):
            if t.get("expr"):
                queries.append((p, t, substitute(t["expr"], a)))
    for p, t, expr in queries:
        left = re.findall(r"\$\{?\w+", expr)
        if left:
            tap(False, "panel %r query %s: variables left after substitution: %s"
                % (p["title"], t["refId"], left))
            continue
        ok, what = check_query(a.prom, expr, known)
        tap(ok, "panel %r query %s: %s" % (p["title"], t["refId"], what))
        if not ok:
            print("#   " + expr)

    for p in panels_of(dash):
        byref = {t.get("refId"): t for t in p.get("targets", [])}
        if "configured" not in byref or "observed" not in byref:
            continue
        conf = values_by_track(a.prom, substitute(byref["configured"]["expr"], a))
        obs = values_by_track(a.prom, substitute(byref["observed"]["expr"], a))
        if len(conf) < 2:
            tap(False, "panel %r: configured shares of at least two tracks (got %s)" % (p["title"], conf))
        for track in sorted(conf):
            c, o = conf[track], obs.get(track, math.nan)
            tap(abs(c - o) <= a.share_tolerance,
                "panel %r: track %s observed %.3f, configured %.3f (+- %.3f)"
                % (p["title"], track, o, c, a.share_tolerance))

    # The check must be able to fail: a query with a misspelt metric is rejected.
    p, t, expr = queries[0]
    m = METRIC.search(expr).group(1)
    ok, what = check_query(a.prom, expr.replace(m, m + "_nonexistent"), known)
    tap(not ok, "a query naming a metric that does not exist is rejected (%s)" % what)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
