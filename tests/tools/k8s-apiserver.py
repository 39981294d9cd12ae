#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A stand-in for the Kubernetes API server, for the agent's tests.

Serves Services and Pods with the list and watch semantics a client meets:
  GET /api/v1/{services,pods}                   list, metadata.resourceVersion
  GET /api/v1/namespaces/NS/{services,pods}      the same, one namespace
  GET /apis/discovery.k8s.io/v1[/namespaces/NS]/endpointslices   EndpointSlices, the same way
  GET /api/v1/nodes                              Nodes: cluster-scoped (no namespace)
  ...?labelSelector=SEL&fieldSelector=SEL       on lists and watches: equality (k=v, k==v,
      k!=v), existence (k, !k), set-based (k in (a,b), k notin (a,b)) as the API server
      parses them; fields metadata.name and metadata.namespace. A watch sends ADDED when a
      change brings an object into the selection and DELETED when it leaves it.
  Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1 (list) and
      ...;as=PartialObjectMetadata;... (watch): only the objects' metadata, as kind
      PartialObjectMetadata(List), apiVersion meta.k8s.io/v1.
  ...?watch=1&resourceVersion=RV                 chunked stream of events after RV:
      ADDED / MODIFIED / DELETED, BOOKMARK (allowWatchBookmarks=true), and an
      ERROR event with a 410 Status when RV is older than the compaction point;
      the stream ends after timeoutSeconds.
  POST /api/v1/namespaces/NS/events              create an Event (201; 409 when the name
      exists; 400 when its namespace is not NS or it names no object), as a
      recorder's Warning about a Service; listed like the others.
  PATCH /api/v1/namespaces/NS/events/NAME        a JSON merge patch (RFC 7386) of an
      Event (200 and the Event; 404 when there is none; 415 for another patch type),
      as a recorder bumps count and lastTimestamp. --forbid-events: every Event
      write gets 403 (an RBAC without create/patch on events).
  GET /api/v1/namespaces/NS/{services,pods}/NAME   one object (404 NotFound Status)
  PUT /api/v1/namespaces/NS/services/NAME    replace a Service, as `l4split weight NS/NAME`
      does: 409 Conflict (a Status, as the real server) when its metadata.resourceVersion
      is not the stored one, 404 when there is none; /_ctl/before-put {"namespace",
      "name", "patch"} merges PATCH into the Service just before the next PUT of it is
      judged (a concurrent edit between the client's GET and its PUT).
  POST /apis/coordination.k8s.io/v1/namespaces/NS/leases, GET .../leases/NAME, PUT it:
      Leases for leader election: create (201; 409 AlreadyExists), replace with the
      resourceVersion read as a precondition (409 Conflict otherwise), as client-go's
      leaderelection uses them. The same create/replace serve Services.
  Bearer token (--token), optional TLS (--cert/--key).
  Gateway API, as its CRDs are served: GatewayClass (cluster-scoped), Gateway (v1),
      TCPRoute and UDPRoute under v1 and v1alpha2 from one storage (read through a
      version: that apiVersion; --route-versions v1alpha2 or _ctl/serve {"routes":
      ["v1alpha2"]} serves them as older installs do; "" : no Gateway API at all),
      ReferenceGrant (v1beta1), Namespaces (core, cluster-scoped); discovery (/apis,
      /apis/GROUP, /apis/GROUP/VERSION) lists what is served; uid, creationTimestamp and
      metadata.generation (spec changes only) set by the server; the status subresource:
      PUT or PATCH (merge) of .../NAME/status changes only .status, a PUT of the object
      keeps the stored .status; resourceVersion preconditions on both (409 Conflict).
  --user TOKEN=USER (repeatable): more bearer tokens; the request log names the user of
      each request, writes (POST, PUT, PATCH) included, so a test can tell who wrote.
The test drives it through /_ctl/*: apply (POST an object), delete (POST
{"kind","namespace","name"}), compact (older RVs get 410, watches end), drop (end
every watch), state (GET), requests (GET: every API request, method, path and Accept, so a
test can assert what the client asked for), bytes (GET: body bytes sent per resource). State is saved to --state and reloaded at start, so a
restarted server continues where it stopped, as etcd would.
"""
import argparse
import json
import os
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

GW = "gateway.networking.k8s.io"
KINDS = {"services": "Service", "pods": "Pod", "events": "Event",
         "endpointslices": "EndpointSlice", "leases": "Lease", "namespaces": "Namespace",
         "nodes": "Node",
         "gatewayclasses": "GatewayClass", "gateways": "Gateway", "tcproutes": "TCPRoute",
         "udproutes": "UDPRoute", "referencegrants": "ReferenceGrant"}
GROUP = {"endpointslices": "discovery.k8s.io/v1",  # apiVersion when not "v1": the storage
         "leases": "coordination.k8s.io/v1",      # version, the one served first
         "gatewayclasses": GW + "/v1", "gateways": GW + "/v1", "tcproutes": GW + "/v1",
         "udproutes": GW + "/v1", "referencegrants": GW + "/v1beta1"}
# Resources served under more than one version (CRD-style: one storage, an object read
# through a version carries that apiVersion, a write through either is the same object).
# SERVED["routes"] is what --route-versions / _ctl/serve set: older installs of the
# Gateway API CRDs serve TCPRoute and UDPRoute under v1alpha2 only; SERVED["gateway"]
# False: the Gateway API CRDs are not installed at all (its group is not discovered).
ROUTES = ("tcproutes", "udproutes")
SERVED = {"routes": ["v1", "v1alpha2"], "gateway": True}
CLUSTER = {"namespaces", "gatewayclasses", "nodes"}  # cluster-scoped: no namespace in their paths
# CRD-style kinds: uid, creationTimestamp and metadata.generation (bumped on changes of
# anything but metadata and status) set by the server; a status subresource (PUT/PATCH of
# .../NAME/status changes only .status; a PUT of the object keeps the stored .status).
STATUS_SUB = {"gatewayclasses", "gateways", "tcproutes", "udproutes"}
SERVER_META = STATUS_SUB | {"referencegrants", "namespaces"}
# Resources served by the generic create/replace/patch paths (a namespaced object, its
# metadata.resourceVersion a precondition when sent): what clients write besides Events.
WRITABLE = {"services", "leases"} | SERVER_META


def versions(res):
    """The group/versions a resource is served under now, the preferred one first."""
    if res in GROUP and GROUP[res].startswith(GW + "/"):
        if not SERVED["gateway"]:
            return []
        if res in ROUTES:
            return [GW + "/" + v for v in SERVED["routes"]]
    return [GROUP.get(res, "v1")]


def discovery(parts):
    """/apis and /apis/GROUP[/VERSION] as the API server answers them, or None."""
    groups = {}
    for res in KINDS:
        for gv in versions(res):
            if "/" in gv:
                g, v = gv.split("/")
                vs = groups.setdefault(g, [])
                if v not in vs:
                    vs.append(v)
    order = {"v1": 0, "v1beta1": 1, "v1alpha2": 2}
    def group(g):
        vs = sorted(groups[g], key=lambda v: order.get(v, 9))
        gvs = [{"groupVersion": g + "/" + v, "version": v} for v in vs]
        return {"name": g, "versions": gvs, "preferredVersion": gvs[0]}
    if parts == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [group(g) for g in sorted(groups)]}
    if len(parts) == 2 and parts[1] in groups:
        return dict(group(parts[1]), kind="APIGroup", apiVersion="v1")
    if len(parts) == 3 and parts[1] in groups and parts[2] in groups[parts[1]]:
        gv = parts[1] + "/" + parts[2]
        out = []
        for res in sorted(KINDS):
            if gv in versions(res):
                out.append({"name": res, "singularName": KINDS[res].lower(),
                            "namespaced": res not in CLUSTER, "kind": KINDS[res],
                            "verbs": ["create", "delete", "get", "list", "patch", "update",
                                      "watch"]})
                if res in STATUS_SUB:
                    out.append({"name": res + "/status", "singularName": "",
                                "namespaced": res not in CLUSTER, "kind": KINDS[res],
                                "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": out}
    return None


def spec_of(obj):
    return {k: v for k, v in (obj or {}).items()
            if k not in ("metadata", "status", "kind", "apiVersion")}


def served_as(obj, gv):
    """A copy of a stored object as read through @gv (its apiVersion that one)."""
    obj = json.loads(json.dumps(obj))
    obj["apiVersion"] = gv
    return obj
META_LIST = "as=PartialObjectMetadataList"
META = "as=PartialObjectMetadata"


def parse_selector(sel):
    """A labelSelector as the API server reads it: a list of (key, op, values)."""
    reqs, i, n = [], 0, len(sel or "")
    while i < n:
        while i < n and sel[i] in " ,":
            i += 1
        if i >= n:
            break
        j = i
        depth = 0
        while j < n and (sel[j] != "," or depth):
            depth += sel[j] == "("
            depth -= sel[j] == ")"
            j += 1
        part = sel[i:j].strip()
        i = j
        if part.startswith("!"):
            reqs.append((part[1:].strip(), "!", None))
        elif " notin " in part or " in " in part:
            op = "notin" if " notin " in part else "in"
            k, v = part.split(" %s " % op, 1)
            v = v.strip()
            if not (v.startswith("(") and v.endswith(")")):
                raise ValueError("unable to parse requirement: %r" % part)
            reqs.append((k.strip(), op, {x.strip() for x in v[1:-1].split(",")}))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", {v.strip()}))
        elif "==" in part or "=" in part:
            k, v = part.split("==" if "==" in part else "=", 1)
            reqs.append((k.strip(), "=", {v.strip()}))
        else:
            reqs.append((part, "exists", None))
    return reqs


def selector_ok(reqs, values):
    for k, op, vs in reqs:
        have = k in values
        v = values.get(k)
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
        if op in ("=", "in") and (not have or v not in vs):
            return False
        if op in ("!=", "notin") and have and v in vs:
            return False
    return True


def fields_of(obj):
    md = obj.get("metadata", {})
    return {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace")}


def meta_only(obj):
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {})}


class Store:
    def __init__(self, path):
        self.path = path
        self.cv = threading.Condition()
        self.rv = 1000
        self.compacted = 0
        self.objs = {r: {} for r in KINDS}
        self.events = []  # (rv, resource, type, obj)
        self.epoch = 0  # bumped to end every open watch
        self.controller = False  # --slice-controller
        if path and os.path.exists(path):
            with open(path) as f:
                s = json.load(f)
            self.rv = s["rv"]
            self.objs.update(s["objs"])
            self.compacted = self.rv  # history is gone after a restart

    def save(self):
        if self.path:
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"rv": self.rv, "objs": self.objs}, f)
            os.replace(tmp, self.path)

    def server_meta(self, res, obj, cur, part):
        """What the server keeps of a CRD-style object: @part "all" (a fixture, as kubectl
        apply: the stored status stays unless one is given), "main" (a PUT of the object:
        the stored status stays), "status" (a PUT of .../status: only .status changes)."""
        md = obj["metadata"]
        if cur is not None:
            if part == "status":
                st = obj.get("status")
                obj.clear()
                obj.update(json.loads(json.dumps(cur)))
                if st is not None:
                    obj["status"] = st
                obj["metadata"]["resourceVersion"] = md.get("resourceVersion")
                return
            if res in STATUS_SUB and (part == "main" or "status" not in obj):
                if "status" in cur:
                    obj["status"] = json.loads(json.dumps(cur["status"]))
                else:
                    obj.pop("status", None)
            cm = cur["metadata"]
            for k in ("uid", "creationTimestamp"):
                md[k] = cm.get(k)
            gen = cm.get("generation", 1)
            md["generation"] = gen + 1 if spec_of(obj) != spec_of(cur) else gen
        else:
            md["uid"] = "%s-%d" % (res, self.rv + 1)
            md["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            md["generation"] = 1
            if res in STATUS_SUB and part != "all":
                obj.pop("status", None)

    def apply(self, obj, save=True, part="all"):
        kind = obj.get("kind")
        if kind == "List":  # many objects, one save (fixtures of thousands of objects)
            for o in obj.get("items", []):
                self.apply(o, save=False)
            with self.cv:
                self.save()
            return
        res = next((r for r, k in KINDS.items() if k == kind), None)
        if res is None:
            raise ValueError("kind %r is not served" % kind)
        md = obj.setdefault("metadata", {})
        if res in CLUSTER:
            md.pop("namespace", None)
            key = "/" + md["name"]
        else:
            md.setdefault("namespace", "default")
            key = md["namespace"] + "/" + md["name"]
        with self.cv:
            cur = self.objs[res].get(key)
            if res in SERVER_META:
                self.server_meta(res, obj, cur, part)
                md = obj["metadata"]  # a status write keeps the stored metadata
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            typ = "MODIFIED" if key in self.objs[res] else "ADDED"
            self.objs[res][key] = obj
            self.events.append((self.rv, res, typ, obj))
            if res in ("pods", "services"):
                self.slice_controller(md["namespace"])
            if save:
                self.save()
            self.cv.notify_all()

    def delete(self, kind, ns, name):
        res = next((r for r, k in KINDS.items() if k == kind), None)
        key = ("" if res in CLUSTER else ns) + "/" + name
        with self.cv:
            obj = self.objs[res].pop(key)
            self.rv += 1
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append((self.rv, res, "DELETED", obj))
            if res in ("pods", "services"):
                self.slice_controller(ns)
            self.save()
            self.cv.notify_all()

    # --slice-controller: EndpointSlices kept from Pods and Services of one namespace, as
    # kube-controller-manager's endpointslice controller does: per Service with a selector,
    # the pods it selects that have an IP, one slice per address type and port set (a pod
    # without a named targetPort goes in a slice without that port), conditions ready
    # (Ready and not terminating), serving (Ready), terminating (deletionTimestamp).
    def desired_slices(self, svc, pods):
        name = svc["metadata"]["name"]
        ns = svc["metadata"]["namespace"]
        sel = (svc.get("spec") or {}).get("selector") or {}
        out = {}
        if not sel:
            return out
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            labels = pod["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in sel.items()):
                continue
            st = pod.get("status") or {}
            ips = [x["ip"] for x in st.get("podIPs") or []] or ([st["podIP"]] if st.get("podIP") else [])
            if not ips:
                continue
            ports = []
            for sp in svc["spec"].get("ports") or []:
                tp, proto = sp.get("targetPort", sp.get("port")), sp.get("protocol", "TCP")
                if isinstance(tp, str):
                    num = next((cp["containerPort"] for c in pod["spec"].get("containers", [])
                                for cp in c.get("ports") or []
                                if cp.get("name") == tp and cp.get("protocol", "TCP") == proto),
                               None)
                    if num is None:
                        continue
                    tp = num
                ports.append({"name": sp.get("name", ""), "port": tp, "protocol": proto})
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in st.get("conditions") or [])
            term = bool(pod["metadata"].get("deletionTimestamp"))
            for ip in ips:
                at = "IPv6" if ":" in ip else "IPv4"
                pk = json.dumps(ports, sort_keys=True)
                sname = "%s-%s-%08x" % (name, at.lower(), zlib.crc32(pk.encode()))
                sl = out.setdefault(sname, {
                    "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                    "metadata": {"name": sname, "namespace": ns, "labels": {
                        "kubernetes.io/service-name": name,
                        "endpointslice.kubernetes.io/managed-by":
                            "endpointslice-controller.k8s.io"}},
                    "addressType": at, "ports": ports, "endpoints": []})
                sl["endpoints"].append({
                    "addresses": [ip],
                    "conditions": {"ready": ready and not term, "serving": ready,
                                   "terminating": term},
                    "targetRef": {"kind": "Pod", "namespace": ns,
                                  "name": pod["metadata"]["name"]},
                    "nodeName": (pod.get("spec") or {}).get("nodeName")})
        return out

    def slice_controller(self, ns):
        if not self.controller:
            return
        pods = [p for k, p in self.objs["pods"].items() if k.startswith(ns + "/")]
        want = {}
        for k, svc in self.objs["services"].items():
            if k.startswith(ns + "/"):
                want.update(self.desired_slices(svc, pods))
        mine = {k: o for k, o in self.objs["endpointslices"].items() if k.startswith(ns + "/")
                and (o["metadata"].get("labels") or {}).get(
                    "endpointslice.kubernetes.io/managed-by") == "endpointslice-controller.k8s.io"}
        for k, o in mine.items():
            if o["metadata"]["name"] not in want:
                self.objs["endpointslices"].pop(k)
                self.rv += 1
                o = json.loads(json.dumps(o))
                o["metadata"]["resourceVersion"] = str(self.rv)
                self.events.append((self.rv, "endpointslices", "DELETED", o))
        for sname, sl in want.items():
            old = mine.get(ns + "/" + sname)
            if old:
                cmp = json.loads(json.dumps(old))
                cmp["metadata"].pop("resourceVersion", None)
                if cmp == sl:
                    continue
            self.rv += 1
            sl["metadata"]["resourceVersion"] = str(self.rv)
            self.objs["endpointslices"][ns + "/" + sname] = sl
            self.events.append((self.rv, "endpointslices", "MODIFIED" if old else "ADDED", sl))

    def compact(self):
        # As if writes happened and etcd compacted them: every RV a client holds is
        # now older than the oldest one the server still has.
        with self.cv:
            self.rv += 1
            self.compacted = self.rv
            self.events = []
            self.epoch += 1
            self.cv.notify_all()

    def drop(self):
        with self.cv:
            self.epoch += 1
            self.cv.notify_all()


def route(parts):
    """An API path as the server reads it: {"res", "ns", "name", "sub", "gv"}, or None.
    /api/v1/[namespaces/NS/]RES[/NAME[/SUB]] and /apis/G/V/[namespaces/NS/]RES[/NAME[/SUB]];
    a resource is served only under its own group/version."""
    if parts[:2] == ["api", "v1"]:
        gv, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        gv, rest = parts[1] + "/" + parts[2], parts[3:]
    else:
        return None
    ns = None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    res = rest[0]
    if res not in KINDS or gv not in versions(res) or (res in CLUSTER and ns):
        return None
    name = rest[1] if len(rest) > 1 else None
    return {"res": res, "ns": ns, "name": name, "sub": rest[2] if len(rest) > 2 else None,
            "gv": gv, "key": "%s/%s" % (ns or "", name) if name else None,
            "scoped": bool(ns) or res in CLUSTER}


def merge_patch(target, p):
    """RFC 7386 JSON merge patch of @target by @p."""
    if not isinstance(p, dict):
        return p
    target = dict(target) if isinstance(target, dict) else {}
    for k, v in p.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    def send_json(self, code, doc, res=None):
        body = json.dumps(doc).encode()
        if res:
            self.server.count(res, len(body))
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": msg, "reason": reason,
                              "code": code})

    def authorized(self):
        tok = self.server.token
        auth = self.headers.get("Authorization") or ""
        if auth[len("Bearer "):] in self.server.users:
            return True
        if tok and auth != "Bearer " + tok:
            self.status(401, "Unauthorized", "Unauthorized")
            return False
        return True

    def log_write(self, method, r):
        """The request log (_ctl/requests) holds writes too: method, path, and the user
        whose token made it (--user TOKEN=USER), so a test can tell which client wrote."""
        tok = (self.headers.get("Authorization") or "")[len("Bearer "):]
        with self.server.lock:
            self.server.requests.append({
                "method": method, "path": self.path, "accept": self.headers.get("Accept", ""),
                "user": self.server.users.get(tok, ""), "t": time.time()})

    def body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(n) or b"{}")

    def forbid_events(self):
        if self.server.forbid_events:
            self.status(403, "Forbidden", 'events is forbidden: User "system:serviceaccount:'
                        'kube-system:l4split" cannot create or patch resource "events"')
        return self.server.forbid_events

    def create_event(self, ns):
        st = self.server.store
        if self.forbid_events():
            return
        obj = self.body()
        md = obj.setdefault("metadata", {})
        if obj.get("kind", "Event") != "Event" or obj.get("apiVersion", "v1") != "v1":
            return self.status(400, "BadRequest", "the body is not a v1 Event")
        if md.setdefault("namespace", ns) != ns:
            return self.status(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
        if not md.get("name"):
            return self.status(422, "Invalid", "Event is invalid: metadata.name: Required value")
        io = obj.get("involvedObject") or {}
        if not io.get("kind") or not io.get("name") or not obj.get("reason"):
            return self.status(422, "Invalid", "Event is invalid: involvedObject and reason "
                               "are required")
        if len(obj.get("message", "")) > 1024:
            return self.status(422, "Invalid", "Event is invalid: message: Too long")
        with st.cv:
            if ns + "/" + md["name"] in st.objs["events"]:
                return self.status(409, "AlreadyExists",
                                   'events "%s" already exists' % md["name"])
        obj["kind"], obj["apiVersion"] = "Event", "v1"
        md["uid"] = "ev-%d" % (st.rv + 1)
        st.apply(obj)
        self.send_json(201, obj)

    def get_one(self, parts):
        """GET of one object (.../namespaces/NS/RES/NAME, a cluster-scoped RES/NAME, or its
        /status), or 404. False: not that path. The object as read through the path's
        version: that apiVersion."""
        r = route(parts)
        if not r or not r["scoped"] or not r["name"] or (
                r["sub"] and not (r["sub"] == "status" and r["res"] in STATUS_SUB)):
            return False
        st = self.server.store
        with st.cv:
            obj = st.objs[r["res"]].get(r["key"])
            obj = served_as(obj, r["gv"]) if obj is not None else None
        if obj is None:
            self.status(404, "NotFound", '%s "%s" not found' % (r["res"], r["name"]))
        else:
            obj["kind"] = KINDS[r["res"]]
            self.send_json(200, obj)
        return True

    def create(self, r):
        """POST .../namespaces/NS/RES: create (201), 409 AlreadyExists when the name is taken."""
        st = self.server.store
        try:
            obj = self.body()
        except ValueError as e:
            return self.status(400, "BadRequest", str(e))
        md = obj.setdefault("metadata", {})
        if r["ns"] and md.setdefault("namespace", r["ns"]) != r["ns"]:
            return self.status(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
        if not md.get("name"):
            return self.status(422, "Invalid", "%s is invalid: metadata.name: Required value"
                               % KINDS[r["res"]])
        with st.cv:
            if "%s/%s" % (r["ns"] or "", md["name"]) in st.objs[r["res"]]:
                return self.status(409, "AlreadyExists", '%s "%s" already exists'
                                   % (r["res"], md["name"]))
            md.pop("resourceVersion", None)
            md["uid"] = "%s-%d" % (r["res"], st.rv + 1)
            md["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            obj["kind"], obj["apiVersion"] = KINDS[r["res"]], r["gv"]
            st.apply(obj, part="main")
        self.send_json(201, obj)

    def do_PUT(self):
        st = self.server.store
        parts = urlparse(self.path).path.strip("/").split("/")
        if not self.authorized():
            return
        r = route(parts)
        self.log_write("PUT", r)
        if not r or not r["scoped"] or not r["name"] or r["res"] not in WRITABLE or (
                r["sub"] and not (r["sub"] == "status" and r["res"] in STATUS_SUB)):
            return self.status(405, "MethodNotAllowed", "PUT is served for %s only"
                               % ", ".join(sorted(WRITABLE)))
        res, name = r["res"], r["name"]
        try:
            obj = self.body()
        except ValueError as e:
            return self.status(400, "BadRequest", str(e))
        md = obj.get("metadata") or {}
        if md.get("name") != name or md.get("namespace", r["ns"]) != r["ns"]:
            return self.status(400, "BadRequest", "the name or namespace of the object does "
                               "not match the request")
        key = r["key"]
        edit = self.server.before_put.pop(key, None)
        if edit is not None:  # someone else's write lands first
            with st.cv:
                cur = st.objs[res].get(key)
            if cur is not None:
                st.apply(merge_patch(json.loads(json.dumps(cur)), edit))
        with st.cv:
            cur = st.objs[res].get(key)
            if cur is None:
                return self.status(404, "NotFound", '%s "%s" not found' % (res, name))
            if md.get("resourceVersion") and \
                    md["resourceVersion"] != cur["metadata"]["resourceVersion"]:
                self.server.conflicts += 1
                return self.status(409, "Conflict", 'Operation cannot be fulfilled on %s '
                                   '"%s": the object has been modified; please apply your '
                                   'changes to the latest version and try again' % (res, name))
            obj["kind"], obj["apiVersion"] = KINDS[res], r["gv"]
            if r["ns"]:
                md["namespace"] = r["ns"]
            for k in ("uid", "creationTimestamp"):  # the server's, not the client's
                if k in cur["metadata"]:
                    md[k] = cur["metadata"][k]
            obj["metadata"] = md
            st.apply(obj, part="status" if r["sub"] else "main")
        self.send_json(200, served_as(obj, r["gv"]))

    def arm_before_put(self):
        b = self.body()
        self.server.before_put[b.get("namespace", "default") + "/" + b["name"]] = b["patch"]
        self.send_json(200, {})

    def do_POST(self):
        st = self.server.store
        u = urlparse(self.path)
        if u.path == "/_ctl/before-put":
            return self.arm_before_put()
        parts = u.path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 5 and parts[4] == "events":
            if not self.authorized():
                return
            try:
                return self.create_event(parts[3])
            except (ValueError, KeyError) as e:
                return self.status(400, "BadRequest", str(e))
        r = route(parts)
        if r and r["scoped"] and not r["name"] and r["res"] in WRITABLE:
            self.log_write("POST", r)
            if not self.authorized():
                return
            return self.create(r)
        try:
            if u.path == "/_ctl/apply":
                st.apply(self.body())
            elif u.path == "/_ctl/delete":
                b = self.body()
                st.delete(b["kind"], b.get("namespace", "default"), b["name"])
            elif u.path == "/_ctl/compact":
                st.compact()
            elif u.path == "/_ctl/drop":
                st.drop()
            elif u.path == "/_ctl/serve":
                # {"routes": ["v1alpha2"], "gateway": true}: what is served from now on
                b = self.body()
                with st.cv:
                    SERVED.update({k: b[k] for k in ("routes", "gateway") if k in b})
                st.drop()  # watches of a version no longer served end
            else:
                return self.status(404, "NotFound", "no such control")
        except (ValueError, KeyError) as e:
            return self.status(400, "BadRequest", str(e))
        self.send_json(200, {"resourceVersion": str(st.rv)})

    def do_PATCH(self):
        st = self.server.store
        parts = urlparse(self.path).path.strip("/").split("/")
        if not self.authorized():
            return
        r = route(parts)
        if r and r["res"] in WRITABLE:
            return self.patch(r)
        if not (parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6
                and parts[4] == "events"):
            return self.status(405, "MethodNotAllowed", "PATCH is served for events only")
        if self.headers.get("Content-Type", "").split(";")[0] != "application/merge-patch+json":
            return self.status(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               "application/merge-patch+json")
        if self.forbid_events():
            return
        patch = self.body()

        def merge(target, p):
            if not isinstance(p, dict):
                return p
            target = dict(target) if isinstance(target, dict) else {}
            for k, v in p.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = merge(target.get(k), v)
            return target
        key = parts[3] + "/" + parts[5]
        with st.cv:
            obj = st.objs["events"].get(key)
        if obj is None:
            return self.status(404, "NotFound", 'events "%s" not found' % parts[5])
        obj = merge(json.loads(json.dumps(obj)), patch)
        st.apply(obj)
        self.send_json(200, obj)

    def patch(self, r):
        """PATCH (JSON merge patch) of an object or its /status: 200, 404, 409 when the
        patch holds a resourceVersion that is not the stored one (a precondition)."""
        st = self.server.store
        self.log_write("PATCH", r)
        if not r["scoped"] or not r["name"] or (
                r["sub"] and not (r["sub"] == "status" and r["res"] in STATUS_SUB)):
            return self.status(405, "MethodNotAllowed", "PATCH of this path is not served")
        if self.headers.get("Content-Type", "").split(";")[0] != "application/merge-patch+json":
            return self.status(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               "application/merge-patch+json")
        try:
            p = self.body()
        except ValueError as e:
            return self.status(400, "BadRequest", str(e))
        with st.cv:
            cur = st.objs[r["res"]].get(r["key"])
            if cur is None:
                return self.status(404, "NotFound", '%s "%s" not found' % (r["res"], r["name"]))
            want = ((p.get("metadata") or {}) if isinstance(p, dict) else {}).get(
                "resourceVersion")
            if want and want != cur["metadata"]["resourceVersion"]:
                self.server.conflicts += 1
                return self.status(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": '
                                   'the object has been modified; please apply your changes '
                                   'to the latest version and try again' % (r["res"], r["name"]))
            obj = merge_patch(json.loads(json.dumps(cur)), p)
            obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            st.apply(obj, part="status" if r["sub"] else "main")
        self.send_json(200, served_as(obj, r["gv"]))

    def do_GET(self):
        st = self.server.store
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path == "/_ctl/state":
            return self.send_json(200, {"rv": st.rv, "objs": st.objs})
        if u.path == "/_ctl/requests":
            with self.server.lock:
                return self.send_json(200, {"requests": list(self.server.requests)})
        if u.path == "/_ctl/bytes":
            with self.server.lock:
                return self.send_json(200, dict(self.server.bytes))
        if not self.authorized():
            return
        parts = u.path.strip("/").split("/")
        accept = self.headers.get("Accept", "")
        self.log_write("GET", None)
        if parts[:1] == ["apis"] and len(parts) <= 3:
            d = discovery(parts)
            if d is not None:
                return self.send_json(200, d)
        if self.get_one(parts):
            return
        r = route(parts)
        if r is None or r["name"]:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        ns, res = r["ns"], r["res"]
        try:
            sel = parse_selector(q.get("labelSelector", [""])[0])
            fsel = parse_selector(q.get("fieldSelector", [""])[0])
        except ValueError as e:
            return self.status(400, "BadRequest", str(e))
        for k, _, _ in fsel:
            if k not in ("metadata.name", "metadata.namespace"):
                return self.status(400, "BadRequest",
                                   '"%s" is not a known field selector: only '
                                   '"metadata.name", "metadata.namespace"' % k)
        match = lambda o: (selector_ok(sel, o.get("metadata", {}).get("labels") or {}) and
                           selector_ok(fsel, fields_of(o)))
        if q.get("watch", ["0"])[0] in ("1", "true"):
            return self.watch(res, ns, q, match, META in accept, r["gv"])
        with st.cv:
            items = [o for k, o in sorted(st.objs[res].items())
                     if (ns is None or k.startswith(ns + "/")) and match(o)]
            if META_LIST in accept:
                doc = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                       "metadata": {"resourceVersion": str(st.rv)},
                       "items": [meta_only(o) for o in items]}
            else:
                items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                         for o in items]
                doc = {"kind": KINDS[res] + "List", "apiVersion": r["gv"],
                       "metadata": {"resourceVersion": str(st.rv)}, "items": items}
        self.send_json(200, doc, res)

    def chunk(self, line, res=None):
        data = (json.dumps(line) + "\n").encode()
        if res:
            self.server.count(res, len(data))
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, res, ns, q, match=lambda o: True, meta=False, gv=None):
        st = self.server.store
        rv = int(q.get("resourceVersion", ["0"])[0] or 0)
        timeout = float(q.get("timeoutSeconds", ["300"])[0])
        bookmarks = q.get("allowWatchBookmarks", ["false"])[0] == "true"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.monotonic() + timeout
        next_bm = time.monotonic() + self.server.bookmark_every
        try:
            with st.cv:
                epoch = st.epoch
                if rv and rv < st.compacted:
                    self.chunk({"type": "ERROR", "object": {
                        "kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure",
                        "message": "too old resource version: %d (%d)" % (rv, st.compacted),
                        "reason": "Expired", "code": 410}})
                    return self.wfile.write(b"0\r\n\r\n")
                if not rv:
                    rv = st.rv
                # What the client holds: the selected objects (a change that moves one
                # in or out of the selection is ADDED or DELETED for it).
                held = {k for k, o in st.objs[res].items() if match(o)}
                while time.monotonic() < end and st.epoch == epoch and (
                        gv is None or gv in versions(res)):
                    for erv, eres, typ, obj in st.events:
                        if erv > rv and eres == res and (
                                ns is None or obj["metadata"].get("namespace") == ns):
                            key = "%s/%s" % (obj["metadata"].get("namespace", ""),
                                             obj["metadata"]["name"])
                            if typ == "DELETED":
                                if key not in held and not match(obj):
                                    continue
                                held.discard(key)
                            elif match(obj):
                                if typ == "MODIFIED" and key not in held:
                                    typ = "ADDED"
                                held.add(key)
                            elif key in held:
                                held.discard(key)
                                typ = "DELETED"
                            else:
                                continue
                            self.chunk({"type": typ, "object": meta_only(obj) if meta else
                                        served_as(obj, gv) if gv else obj}, res)
                    rv = max([rv] + [e[0] for e in st.events])
                    if bookmarks and time.monotonic() >= next_bm:
                        self.chunk({"type": "BOOKMARK", "object": {
                            "kind": "PartialObjectMetadata" if meta else KINDS[res],
                            "apiVersion": "meta.k8s.io/v1" if meta else gv or GROUP.get(res, "v1"),
                            "metadata": {"resourceVersion": str(st.rv)}}}, res)
                        next_bm = time.monotonic() + self.server.bookmark_every
                    st.cv.wait(timeout=0.2)
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, ssl.SSLError):
            pass
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def count(self, res, n):
        with self.lock:
            self.bytes[res] = self.bytes.get(res, 0) + n

    def handle_error(self, request, client_address):
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--state")
    ap.add_argument("--token")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--bookmark-every", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=1800, help="exit after this many seconds")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--forbid-events", action="store_true")
    ap.add_argument("--user", action="append", default=[], metavar="TOKEN=USER",
                    help="another bearer token, and the user the request log names for it")
    ap.add_argument("--route-versions", default="v1,v1alpha2",
                    help="versions TCPRoute and UDPRoute are served under (v1alpha2: an "
                    "older install); empty: the Gateway API CRDs are not installed")
    ap.add_argument("--slice-controller", action="store_true",
                    help="keep EndpointSlices from Pods and Services (as the controller does)")
    a = ap.parse_args()
    srv = Server((a.listen, a.port), Handler)
    srv.store = Store(a.state)
    srv.store.controller = a.slice_controller
    srv.token = a.token
    srv.bookmark_every = a.bookmark_every
    srv.verbose = a.verbose
    srv.forbid_events = a.forbid_events
    srv.users = dict(u.split("=", 1) for u in a.user)
    SERVED["routes"] = [v for v in a.route_versions.split(",") if v]
    SERVED["gateway"] = bool(SERVED["routes"])
    srv.lock = threading.Lock()
    srv.requests = []
    srv.bytes = {}
    srv.before_put = {}
    srv.conflicts = 0
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        os.replace(a.port_file + ".tmp", a.port_file)
    threading.Timer(a.timeout, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
