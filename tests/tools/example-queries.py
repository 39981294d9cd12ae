#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The PromQL of deploy/examples' Argo AnalysisTemplate or Flagger MetricTemplates, with
their placeholders filled as Argo ({{args.X}}) and Flagger ({{ namespace }}, {{ target }},
{{ interval }}, {{ variables.X }}) fill them: one query per line, for a test to run.

  example-queries.py FILE --namespace NS --service NAME --canary TRACK --window DUR
"""
import argparse
import re
import sys

import yaml

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--namespace", required=True)
ap.add_argument("--service", required=True)
ap.add_argument("--canary", required=True)
ap.add_argument("--window", required=True)
o = ap.parse_args()

queries = []
for doc in yaml.safe_load_all(open(o.file)):
    if not doc:
        continue
    kind = doc.get("kind")
    if kind == "AnalysisTemplate":
        args = {a["name"]: a.get("value") for a in doc["spec"].get("args", [])}
        args.update({"namespace": o.namespace, "service": o.service, "canary-track": o.canary})
        for m in doc["spec"]["metrics"]:
            q = m["provider"]["prometheus"]["query"]
            # The test's window for the template's [1m].
            q = re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda x: args[x.group(1)], q)
            queries.append(q.replace("[1m]", "[%s]" % o.window))
    elif kind == "MetricTemplate":
        q = doc["spec"]["query"]
        subst = {"namespace": o.namespace, "target": o.service, "interval": o.window,
                 "variables.track": o.canary}
        queries.append(re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda x: subst[x.group(1)], q))
    else:
        sys.exit("%s: unexpected kind %s" % (o.file, kind))
for q in queries:
    left = re.findall(r"\{\{[^}]*\}\}", q)
    if left:
        sys.exit("%s: placeholders left: %s" % (o.file, left))
    print(" ".join(q.split()))
