#!/usr/bin/python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Offline checks of deploy/: the YAML parses, the fields a cluster needs are there,
the DaemonSet asks for no more privilege than documented, the ClusterRole only reads
what the agent reads, and every Debian package the Dockerfile installs exists.

Then kustomize (`kubectl kustomize`, $KUBECTL to use another binary): the base
(deploy/), every overlay, the monitoring component, and each overlay with every setting
it lists changed (in a copy of deploy/). Each render gets the same checks as the plain
manifests, plus: each setting reaches every field that carries it, which the test sees
by running the container's own command line (command + args, with its env) against a
stand-in l4split that records its arguments."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DEPLOY = os.path.join(ROOT, "deploy")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
results = []

# What deploy/base/ holds and both shipped overlays' settings.yaml set.
DEFAULTS = {"device": "eth0", "cgroup": "/sys/fs/cgroup", "flows": "1048576", "backends": "65536",
            "metrics-port": "9477", "image": "l4split:0.1.0"}
CGROUP_MOUNT = "/run/l4split/cgroupv2"


def check(desc, cond, detail=""):
    results.append(bool(cond))
    print(("ok - " if cond else "not ok - ") + desc)
    if not cond and detail:
        print("#   " + str(detail))


def load(name):
    with open(os.path.join(DEPLOY, "base", name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def run_container(c, tmp):
    """Run the container's command line with its env (fieldRefs get stand-in values)
    against a stand-in l4split; return the argument lists it was called with."""
    fake = os.path.join(tmp, "bin")
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, "l4split"), "w") as f:
        f.write("#!/usr/bin/python3\nimport json, os, sys\n"
                "open(os.environ['FAKE_LOG'], 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    os.chmod(os.path.join(fake, "l4split"), 0o755)
    log = os.path.join(tmp, "calls.log")
    if os.path.exists(log):
        os.unlink(log)
    fieldrefs = {"spec.nodeName": "node-1", "status.hostIP": "192.0.2.7"}
    env = {"PATH": fake + ":/usr/bin:/bin", "FAKE_LOG": log}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            env[e["name"]] = fieldrefs.get(
                e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath"), "?")
    argv = c.get("command", []) + c.get("args", [])
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    calls = []
    if os.path.exists(log):
        with open(log) as f:
            calls = [json.loads(x) for x in f]
    return r.returncode, calls


def check_set(label, docs, want, tmp, rbac_ref=None):
    """The checks every rendering of deploy/ must pass. want: the settings (DEFAULTS'
    keys; cgroup None: no socket path)."""
    for d in docs:
        check("%s: %s has apiVersion, kind and metadata.name" % (label, d.get("kind")),
              d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"))
    kinds = {}
    for d in docs:
        kinds.setdefault(d.get("kind"), []).append(d)
    check("%s: nothing but the agent's objects (and a PodMonitor): settings stay local" % label,
          set(kinds) <= {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet",
                         "PodMonitor"}, sorted(kinds))
    for k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"):
        check("%s: one %s is defined" % (label, k), len(kinds.get(k, [])) == 1,
              len(kinds.get(k, [])))
    if not all(len(kinds.get(k, [])) == 1
               for k in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet")):
        return
    sa, role, binding, ds = (kinds["ServiceAccount"][0], kinds["ClusterRole"][0],
                             kinds["ClusterRoleBinding"][0], kinds["DaemonSet"][0])
    if rbac_ref is not None:
        check("%s: RBAC (ServiceAccount, ClusterRole, ClusterRoleBinding) as in deploy/base/rbac.yaml"
              % label, [sa, role, binding] == rbac_ref)
    rules = role.get("rules", [])
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    # update: the leader writes a declared rollout's weights and status on the Service
    want_rules = {("", "services", v) for v in ("get", "list", "watch", "update")}
    want_rules |= {("discovery.k8s.io", "endpointslices", v) for v in ("get", "list", "watch")}
    want_rules |= {("", "pods", v) for v in ("list", "watch")}  # metadata only, for track-label
    want_rules |= {("", "nodes", v) for v in ("list", "watch")}  # its own Node: node-port addresses
    want_rules |= {("", "events", v) for v in ("create", "patch")}  # why a Service gets no traffic
    want_rules |= {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
    want_rules |= {("", "nodes", v) for v in ("list", "watch")}  # this node's addresses
    # Gateway API: read and watch; status only through the status subresource
    want_rules |= {("", "namespaces", v) for v in ("get", "list", "watch")}
    gw = "gateway.networking.k8s.io"
    for r in ("gatewayclasses", "gateways", "tcproutes", "udproutes", "referencegrants"):
        want_rules |= {(gw, r, v) for v in ("get", "list", "watch")}
    for r in ("gatewayclasses", "gateways", "tcproutes", "udproutes"):
        want_rules |= {(gw, r + "/status", v) for v in ("update", "patch")}
    check("%s: ClusterRole: get/list/watch on services and endpointslices, update on services, "
          "list/watch on pods and nodes, create/patch events, get/create/update leases, get/list/watch "
          "on namespaces and the Gateway API kinds, update/patch on their status, nothing more"
          % label, granted == want_rules, sorted(granted))
    check("%s: ClusterRole: no wildcard" % label, not any("*" in x for t in granted for x in t))
    check("%s: ClusterRoleBinding binds the role to the ServiceAccount" % label,
          binding["roleRef"]["name"] == role["metadata"]["name"]
          and binding["roleRef"]["kind"] == "ClusterRole"
          and {"kind": "ServiceAccount", "name": sa["metadata"]["name"],
               "namespace": sa["metadata"]["namespace"]} in binding["subjects"])

    spec = ds["spec"]
    pod = spec["template"]["spec"]
    check("%s: DaemonSet selector matches its pod labels" % label,
          all(spec["template"]["metadata"]["labels"].get(k) == v
              for k, v in spec["selector"]["matchLabels"].items()))
    check("%s: DaemonSet runs as the ServiceAccount" % label,
          pod.get("serviceAccountName") == sa["metadata"]["name"]
          and ds["metadata"]["namespace"] == sa["metadata"]["namespace"])
    check("%s: DaemonSet uses the host network (the programs attach to the node's devices)" % label,
          pod.get("hostNetwork") is True)
    c = pod["containers"][0]
    sc = c.get("securityContext", {})
    caps = set(sc.get("capabilities", {}).get("add", []))
    check("%s: container is not privileged" % label, sc.get("privileged") is False)
    check("%s: capabilities: exactly BPF, NET_ADMIN, PERFMON after dropping ALL" % label,
          caps == {"BPF", "NET_ADMIN", "PERFMON"} and sc["capabilities"].get("drop") == ["ALL"], caps)
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    check("%s: /sys/fs/bpf is the host's (pinned maps outlive the pod)" % label,
          "/sys/fs/bpf" in mounts
          and vols[mounts["/sys/fs/bpf"]["name"]]["hostPath"]["path"] == "/sys/fs/bpf")
    check("%s: /sys/kernel/btf is mounted read-only" % label,
          mounts.get("/sys/kernel/btf", {}).get("readOnly") is True)
    env = {e["name"]: e for e in c.get("env", [])}
    check("%s: the node's SNAT address comes from status.hostIP" % label,
          env.get("HOST_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.hostIP")
    check("%s: NODE_NAME comes from spec.nodeName" % label,
          env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName")
    check("%s: image is %s" % (label, want["image"]), c.get("image") == want["image"], c.get("image"))

    # What the container runs, with the values it gets: the settings must arrive here.
    rc, calls = run_container(c, tmp)
    expect = [["attach", want["device"], "--flows", want["flows"], "--backends", want["backends"]],
              ["node", "set", "--snat-addr", "192.0.2.7"]]
    if want["cgroup"]:
        expect.append(["attach", "--cgroup", CGROUP_MOUNT])
    expect.append(["agent", "--node-name", "node-1", "--metrics-addr", ":" + want["metrics-port"]])
    check("%s: the container runs attach %s --flows %s --backends %s, node set --snat-addr, %sthe agent on :%s"
          % (label, want["device"], want["flows"], want["backends"],
             "attach --cgroup, " if want["cgroup"] else "no socket path, ", want["metrics-port"]),
          rc == 0 and calls == expect, "exit %d, calls %s" % (rc, calls))
    if want["cgroup"]:
        check("%s: the socket path's cgroup is the host's %s, mounted read-only at %s"
              % (label, want["cgroup"], CGROUP_MOUNT),
              env.get("L4SPLIT_CGROUP", {}).get("value") == CGROUP_MOUNT
              and mounts.get(CGROUP_MOUNT, {}).get("readOnly") is True
              and vols[mounts[CGROUP_MOUNT]["name"]]["hostPath"]["path"] == want["cgroup"],
              (env.get("L4SPLIT_CGROUP"), mounts.get(CGROUP_MOUNT)))
    port = int(want["metrics-port"])
    cports = {p.get("name"): p for p in c.get("ports", [])}
    check("%s: the container exposes the metrics port %d as \"metrics\"" % (label, port),
          cports.get("metrics", {}).get("containerPort") == port, c.get("ports"))
    for probe in ("readinessProbe", "livenessProbe"):
        hg = c.get(probe, {}).get("httpGet", {})
        check("%s: %s is the agent's /healthz on its metrics port %d" % (label, probe, port),
              hg.get("path") == "/healthz" and hg.get("port") == port, hg)

    for pm in kinds.get("PodMonitor", []):
        eps = pm.get("spec", {}).get("podMetricsEndpoints", [])
        sel = pm.get("spec", {}).get("selector", {}).get("matchLabels", {})
        labels = spec["template"]["metadata"]["labels"]
        ns = pm.get("spec", {}).get("namespaceSelector", {}).get("matchNames",
                                                                  [pm["metadata"].get("namespace")])
        check("%s: PodMonitor is monitoring.coreos.com/v1" % label,
              pm.get("apiVersion") == "monitoring.coreos.com/v1")
        check("%s: PodMonitor selects the DaemonSet's pods (labels and namespace)" % label,
              sel and all(labels.get(k) == v for k, v in sel.items())
              and ds["metadata"]["namespace"] in ns, (sel, ns))
        check("%s: PodMonitor scrapes /metrics on a port the container exposes, the agent's %d"
              % (label, port),
              eps and all(cports.get(e.get("port"), {}).get("containerPort") == port
                          and e.get("path", "/metrics") == "/metrics" for e in eps), eps)
    return kinds


# The plain manifests: still valid alone (kubectl apply -f deploy/base/...).
try:
    rbac = load("rbac.yaml")
    ds_docs = load("daemonset.yaml")
    check("deploy/base/*.yaml parse as YAML", True)
except yaml.YAMLError as e:
    check("deploy/base/*.yaml parse as YAML", False, e)
    sys.exit(1)

tmp = tempfile.mkdtemp(prefix="l4s-deploy-")
try:
    check_set("deploy/base/*.yaml", rbac + ds_docs, DEFAULTS, tmp)

    if not shutil.which(KUBECTL):
        check("kubectl is installed (it renders deploy/ with kustomize)", False,
              "%s not found in PATH; install kubectl (it ships kustomize)" % KUBECTL)
    else:
        def render(d):
            r = subprocess.run([KUBECTL, "kustomize", d], capture_output=True, text=True,
                               timeout=60)
            where = os.path.relpath(d, tmp if d.startswith(tmp) else ROOT)
            check("kubectl kustomize %s renders" % where, r.returncode == 0,
                  r.stderr.strip()[-600:])
            return [x for x in yaml.safe_load_all(r.stdout) if x] if r.returncode == 0 else None

        def overlay(name, base, components=()):
            """A kustomization of the test's own in tmp (kustomize takes no absolute paths)."""
            d = os.path.join(tmp, name)
            os.makedirs(d)
            k = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                 "resources": [os.path.relpath(base, d)],
                 "components": [os.path.relpath(os.path.join(DEPLOY, "components", c), d)
                                for c in components]}
            with open(os.path.join(d, "kustomization.yaml"), "w") as f:
                yaml.safe_dump(k, f)
            return d

        base = render(DEPLOY)
        if base is not None:
            check("kubectl kustomize deploy/ gives the plain manifests of deploy/base/, field for field",
                  base == rbac + ds_docs,
                  "render and deploy/base/*.yaml differ: deploy/kustomization.yaml or "
                  "deploy/base/kustomization.yaml changes them")
            check_set("kustomize deploy/", base, DEFAULTS, tmp, rbac)
        docs = render(overlay("base-monitoring", DEPLOY, components=["monitoring"]))
        if docs is not None:
            k = check_set("kustomize deploy/ + components/monitoring", docs, DEFAULTS, tmp, rbac)
            check("kustomize deploy/ + components/monitoring: one PodMonitor",
                  k and len(k.get("PodMonitor", [])) == 1)

        shapes = {"node-path": None, "node-and-socket-paths": DEFAULTS["cgroup"]}
        names = sorted(os.listdir(os.path.join(DEPLOY, "overlays")))
        check("the overlays are node-path and node-and-socket-paths", names == sorted(shapes), names)
        for name in names:
            docs = render(os.path.join(DEPLOY, "overlays", name))
            if docs is not None:
                k = check_set("kustomize overlays/%s" % name, docs,
                              dict(DEFAULTS, cgroup=shapes.get(name, "?")), tmp, rbac)
                check("kustomize overlays/%s: no PodMonitor unless asked for" % name,
                      k is not None and "PodMonitor" not in k)

        # A user's edit: in a copy of deploy/, every setting an overlay's settings.yaml
        # lists changed in that one place, the image in its images: entry, and the
        # monitoring component added to its components:. Every field that carries a
        # value must follow.
        mine = {"device": "ens9", "cgroup": "/sys/fs/cgroup/kubepods.slice", "flows": "4096",
                "backends": "262144",                "metrics-port": "19477"}
        for name in names:
            copy = os.path.join(tmp, "edit-" + name, "deploy")
            shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("grafana"))
            spath = os.path.join(copy, "overlays", name, "settings.yaml")
            kpath = os.path.join(copy, "overlays", name, "kustomization.yaml")
            with open(spath) as f:
                settings = yaml.safe_load(f)
            with open(kpath) as f:
                k = yaml.safe_load(f)
            listed = sorted((settings.get("data") or {}).keys())
            check("overlays/%s/settings.yaml sets device, flows, backends, metrics-port%s"
                  % (name, ", cgroup" if shapes.get(name) else ""),
                  settings.get("kind") == "ConfigMap"
                  and settings["metadata"].get("name") == "l4split-settings"
                  and {"device", "flows", "backends", "metrics-port"} <= set(listed)
                  and (not shapes.get(name) or "cgroup" in listed), listed)
            check("overlays/%s/settings.yaml is never applied (local-config)" % name,
                  (settings["metadata"].get("annotations") or {}).get(
                      "config.kubernetes.io/local-config") == "true")
            settings["data"] = {x: mine.get(x, "?") for x in listed}
            with open(spath, "w") as f:
                yaml.safe_dump(settings, f)
            imgs = [i for i in k.get("images") or [] if i.get("name") == "l4split"]
            check("overlays/%s sets the image in images: (name l4split)" % name, len(imgs) == 1)
            for i in imgs:
                i.update(newName="registry.example/l4split", newTag="9.9")
            k["components"] = (k.get("components") or []) + ["../../components/monitoring"]
            with open(kpath, "w") as f:
                yaml.safe_dump(k, f)
            want = dict(DEFAULTS, image="registry.example/l4split:9.9")
            want.update((x, mine[x]) for x in listed if x in mine)
            if shapes.get(name) is None:
                want["cgroup"] = None
            docs = render(os.path.dirname(kpath))
            if docs is not None:
                k = check_set("overlays/%s with its settings edited, + monitoring" % name,
                              docs, want, tmp, rbac)
                check("overlays/%s with its settings edited, + monitoring: one PodMonitor" % name,
                      k and len(k.get("PodMonitor", [])) == 1)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

with open(os.path.join(DEPLOY, "Dockerfile")) as f:
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
