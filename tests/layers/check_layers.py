#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The layers of user/ as README's "How it works" names them, checked from the includes:

  cli/  -> kube/, core/     (commands: the only code that prints results)
  kube/ -> core/            (API client, document readers, agent, metrics)
  core/ -> (nothing above)  (spec, the one writer, the store, tables, attach)

Fails when a lower layer includes a header of a higher one, when two modules include
each other (directly or in a longer circle), or when a file outside core/ names a map
fd or calls the map syscalls (the store, core/, owns the maps). TAP lines for run.sh.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
USER = os.path.join(ROOT, "user")
RANK = {"core": 0, "kube": 1, "cli": 2}
MAP_FDS = ("frontends services backends weights tracks tables flows rflows txports bstats "
           "sstats reasons attach config rollouts sock_fwd sock_rev sock_stats cgroups snat "
           "node bindex devaddr").split()

layer_of = {}   # header or source basename -> layer
files = []
for layer in RANK:
    for f in sorted(os.listdir(os.path.join(USER, layer))):
        if f.endswith((".c", ".h")):
            layer_of[f] = layer
            files.append((layer, f))

inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
deps = {}  # module (basename without extension) -> modules it includes
n = 0
fails = 0


def tap(ok, what):
    global n, fails
    n += 1
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        fails += 1


bad_up = []
bad_fd = []
for layer, f in files:
    text = open(os.path.join(USER, layer, f)).read()
    mod = os.path.splitext(f)[0]
    for h in inc.findall(text):
        if h not in layer_of:
            continue  # include/, the skeleton
        if RANK[layer_of[h]] > RANK[layer]:
            bad_up.append(f"{layer}/{f} includes {layer_of[h]}/{h}")
        hm = os.path.splitext(h)[0]
        if hm != mod:
            deps.setdefault(mod, set()).add(hm)
    if layer != "core":
        for m in re.finditer(r"\b(bpf_map_\w+)\s*\(|\bst(?:->|\.)(%s)\b(?!\s*<)" %
                             "|".join(MAP_FDS), text):
            line = text.count("\n", 0, m.start()) + 1
            bad_fd.append(f"{layer}/{f}:{line}: {m.group(0).strip()}")

tap(not bad_up, "no layer includes a header of a layer above it")
for b in bad_up:
    print("#   " + b)

# Circles between modules (x.c/x.h as one module).
circles = set()


def walk(start, node, path):
    for d in deps.get(node, ()):
        if d == start:
            circles.add(" -> ".join(sorted(path) + [start]))
        elif d not in path and len(path) < 8:
            walk(start, d, path + [d])


for m in deps:
    walk(m, m, [m])
tap(not circles, "no include circles between modules")
for c in sorted(circles):
    print("#   circle: " + c)

tap(not bad_fd, "only core/ (the store) names map fds or calls bpf_map_*")
for b in bad_fd:
    print("#   " + b)
print(f"# {n - fails} of {n} layer checks hold")
sys.exit(1 if fails else 0)
