#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Offline checks of deploy/: the YAML parses, the fields a cluster needs are there,
the DaemonSet asks for no more privilege than documented, the ClusterRole only reads
what the agent reads, and every Debian package the Dockerfile installs exists."""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
results = []


def check(desc, cond, detail=""):
    results.append(bool(cond))
    print(("ok - " if cond else "not ok - ") + desc)
    if not cond and detail:
        print("#   " + str(detail))


def load(name):
    with open(os.path.join(ROOT, "deploy", name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


try:
    rbac = load("rbac.yaml")
    ds_docs = load("daemonset.yaml")
    check("deploy/*.yaml parse as YAML", True)
except yaml.YAMLError as e:
    check("deploy/*.yaml parse as YAML", False, e)
    sys.exit(1)

kinds = {d["kind"]: d for d in rbac + ds_docs}
for k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"):
    check("a %s is defined" % k, k in kinds)
for d in rbac + ds_docs:
    check("%s has apiVersion, kind and metadata.name" % d.get("kind"),
          d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"))

sa, role, binding, ds = (kinds["ServiceAccount"], kinds["ClusterRole"],
                         kinds["ClusterRoleBinding"], kinds["DaemonSet"])
rules = role.get("rules", [])
granted = {(g, r, v) for rule in rules for g in rule["apiGroups"]
           for r in rule["resources"] for v in rule["verbs"]}
want = {("", r, v) for r in ("services", "pods") for v in ("get", "list", "watch")}
want |= {("", "events", v) for v in ("create", "patch")}  # why a Service gets no traffic
check("ClusterRole: get/list/watch on services and pods, create/patch events, nothing more",
      granted == want, sorted(granted))
check("ClusterRole: no wildcard", not any("*" in x for t in granted for x in t))
check("ClusterRoleBinding binds the role to the ServiceAccount",
      binding["roleRef"]["name"] == role["metadata"]["name"]
      and binding["roleRef"]["kind"] == "ClusterRole"
      and {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
           "namespace": sa["metadata"]["namespace"]} in binding["subjects"])

spec = ds["spec"]
pod = spec["template"]["spec"]
check("DaemonSet selector matches its pod labels",
      all(spec["template"]["metadata"]["labels"].get(k) == v
          for k, v in spec["selector"]["matchLabels"].items()))
check("DaemonSet runs as the ServiceAccount", pod.get("serviceAccountName") == sa["metadata"]["name"]
      and ds["metadata"]["namespace"] == sa["metadata"]["namespace"])
check("DaemonSet uses the host network (the programs attach to the node's devices)",
      pod.get("hostNetwork") is True)
c = pod["containers"][0]
sc = c.get("securityContext", {})
caps = set(sc.get("capabilities", {}).get("add", []))
check("container is not privileged", sc.get("privileged") is False)
check("capabilities: exactly BPF, NET_ADMIN, PERFMON after dropping ALL",
      caps == {"BPF", "NET_ADMIN", "PERFMON"} and sc["capabilities"].get("drop") == ["ALL"], caps)
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
check("/sys/fs/bpf is the host's (pinned maps outlive the pod)",
      "/sys/fs/bpf" in mounts and vols[mounts["/sys/fs/bpf"]["name"]]["hostPath"]["path"] == "/sys/fs/bpf")
check("/sys/kernel/btf is mounted read-only",
      mounts.get("/sys/kernel/btf", {}).get("readOnly") is True)
cg = next((e.get("value") for e in c.get("env", []) if e["name"] == "L4SPLIT_CGROUP"), None)
check("the socket path's cgroup is the host's /sys/fs/cgroup, mounted read-only",
      cg in mounts and mounts[cg].get("readOnly") is True
      and vols[mounts[cg]["name"]]["hostPath"]["path"] == "/sys/fs/cgroup", cg)
check("the node's SNAT address comes from status.hostIP",
      {e["name"]: e for e in c.get("env", [])}.get("HOST_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.hostIP"
      and 'node set --snat-addr "$HOST_IP"' in " ".join(c.get("args", [])))
check("the container attaches the socket path before the agent starts",
      'attach --cgroup "$L4SPLIT_CGROUP"' in " ".join(c.get("args", [])))
env = {e["name"]: e for e in c.get("env", [])}
check("NODE_NAME comes from spec.nodeName",
      env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName")
cmd = " ".join(c.get("command", []) + c.get("args", []))
check("the container attaches, then runs the agent", "l4split attach" in cmd and "l4split agent" in cmd)
m = re.search(r"--metrics-addr\s+\S*:(\d+)", cmd)
probe = c.get("readinessProbe", {}).get("httpGet", {})
check("readiness probe is the agent's /healthz on its metrics port",
      m and probe.get("path") == "/healthz" and str(probe.get("port")) == m.group(1))

with open(os.path.join(ROOT, "deploy", "Dockerfile")) as f:
    df = f.read()
froms = re.findall(r"^FROM\s+(\S+)", df, re.M)
check("Dockerfile builds on Debian 12", froms and all(f.startswith("debian:12") for f in froms), froms)
check("Dockerfile builds l4split with make and ships build/l4split",
      re.search(r"RUN .*make", df) and "build/l4split" in df)
pkgs = set()
for block in re.findall(r"apt-get install -y --no-install-recommends((?:[^&]|\\\n)*)", df):
    pkgs.update(p for p in block.replace("\\", " ").split() if re.match(r"^[a-z0-9][a-z0-9.+-]+$", p))
missing = []
if subprocess.run(["apt-cache", "show"] + sorted(pkgs), capture_output=True).returncode != 0:
    missing = [p for p in sorted(pkgs)
               if subprocess.run(["apt-cache", "show", p], capture_output=True).returncode != 0]
check("every package the Dockerfile installs exists in Debian (%d checked)" % len(pkgs),
      pkgs and not missing, missing)
print("# %d passed, %d failed" % (results.count(True), results.count(False)))
sys.exit(0 if all(results) else 1)
