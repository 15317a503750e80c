#!/usr/bin/env python3
"""Acceptance suite: the Python `kubernetes` client against a Kubernetes 1.32 apiserver.

Every check is a call the client itself makes (typed APIs, `kubernetes.watch`, `kubernetes.dynamic`),
and every expected value is what a real Kubernetes 1.32 kube-apiserver answers. Where an expectation
comes from is said next to it: "k8s:" names the Kubernetes 1.32 source (k8s.io/apiserver and
k8s.io/apimachinery v0.32, pkg/apis/... defaulting and validation of kubernetes v1.32), "client:"
names the client's own code.

Runs with the 32.x line (urllib3 models) and with the newest line (strict pydantic models, from v36).
The cluster comes from KUBECONFIG (the client's `config.load_kube_config()`). Optional environment:

  ETCD_ENDPOINTS   the store's client URL(s); with `etcdctl` on PATH the suite compacts the store
                   before the too-old-resourceVersion watch check (otherwise it relies on the
                   server's watch window, as a real kube-apiserver's watch cache gives one).
  SUITE_ONLY       comma-separated substrings: run only checks whose names contain one of them.
  SUITE_VERBOSE=1  print every request the client made for a failing check, not only the last three.

Output: one line per check (PASS / FAIL / XFAIL / SKIP), then a summary; exit status 0 when no
check failed. XFAIL is a check whose feature the server answered as not supported (405, 415, 501):
the line names the missing feature. SKIP is a check this client line has no call for.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

import urllib3

import kubernetes
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

CLIENT_VERSION = kubernetes.__version__
CLIENT_MAJOR = int(CLIENT_VERSION.split(".")[0])
# client: from v36 the models are pydantic BaseModels with strict field types.
PYDANTIC_MODELS = CLIENT_MAJOR >= 36

WATCH_TIMEOUT_SECONDS = 2  # server-side timeoutSeconds for replayed watches
WATCH_CLIENT_GUARD_SECONDS = 20  # client read timeout, so a server that ignores timeoutSeconds fails instead of hanging
LIVE_WATCH_SECONDS = 6
PAGE_OBJECTS = 5
PAGE_LIMIT = 2
UNSUPPORTED_STATUSES = (405, 406, 415, 501)

# ---------------------------------------------------------------------------------------------
# Request recording: every HTTP request the client sends goes through urllib3's PoolManager.urlopen;
# the recorder keeps method, path, query, content type and a body summary for failure reports.
# ---------------------------------------------------------------------------------------------


class Recorder:
    """Keeps the requests made during the current check."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()

    def reset(self):
        with self.lock:
            self.requests = []

    def add(self, method, url, headers, body):
        ctype = ""
        for k, v in (headers or {}).items():
            if k.lower() == "content-type":
                ctype = v
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        summary = "" if body is None else body if len(body) <= 300 else body[:300] + "...(%d bytes)" % len(body)
        path = re.sub(r"^https?://[^/]+", "", url)
        with self.lock:
            self.requests.append("%s %s%s%s" % (method, path, " [%s]" % ctype if ctype else "", " body=" + summary if summary else ""))


RECORDER = Recorder()
_original_urlopen = urllib3.PoolManager.urlopen


def _recording_urlopen(self, method, url, redirect=True, **kw):
    RECORDER.add(method, url, kw.get("headers"), kw.get("body"))
    return _original_urlopen(self, method, url, redirect=redirect, **kw)


urllib3.PoolManager.urlopen = _recording_urlopen

# ---------------------------------------------------------------------------------------------
# Check registry and outcomes
# ---------------------------------------------------------------------------------------------


class Unsupported(Exception):
    """The server answered that it does not support a feature: recorded as XFAIL naming it."""

    def __init__(self, feature, detail):
        super().__init__("%s (%s)" % (feature, detail))
        self.feature = feature


class Skip(Exception):
    """This client line has no call for the check."""


class CheckFailed(AssertionError):
    pass


CHECKS = []
RESULTS = {"PASS": [], "FAIL": [], "XFAIL": [], "SKIP": []}


def check(name):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def expect_eq(got, want, what):
    if got != want:
        raise CheckFailed("%s: got %r, want %r" % (what, got, want))


def unsupported_or_fail(feature, exc):
    """Turns an ApiException into Unsupported when the status says the server lacks the feature."""
    if isinstance(exc, ApiException) and exc.status in UNSUPPORTED_STATUSES:
        raise Unsupported(feature, "server answered %s: %s" % (exc.status, status_message(exc)))
    raise exc


def status_body(exc):
    try:
        return json.loads(exc.body)
    except Exception:
        return {}


def status_message(exc):
    body = status_body(exc)
    return body.get("message") or (exc.body or "")[:200]


def expect_status(exc, code, reason, message, details=None):
    """Checks an ApiException's HTTP status and its Status body as kube-apiserver writes it."""
    expect_eq(exc.status, code, "HTTP status")
    body = status_body(exc)
    expect(body, "error body is not a JSON Status: %r" % (exc.body,))
    expect_eq(body.get("kind"), "Status", "Status.kind")
    expect_eq(body.get("apiVersion"), "v1", "Status.apiVersion")
    expect_eq(body.get("status"), "Failure", "Status.status")
    expect_eq(body.get("code"), code, "Status.code")
    expect_eq(body.get("reason"), reason, "Status.reason")
    if message is not None:
        expect_eq(body.get("message"), message, "Status.message")
    if details is not None:
        got = {k: v for k, v in (body.get("details") or {}).items() if k in details}
        expect_eq(got, details, "Status.details")
    return body


def api_error(fn, *args, **kwargs):
    """Calls fn and returns the ApiException it raises; a success is a failure of the check."""
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        return e
    raise CheckFailed("%s succeeded; an error was expected" % fn.__name__)


def with_info(fn, *args, **kwargs):
    """(data, status, headers) from the `_with_http_info` twin of a typed call, in either client line."""
    twin = getattr(fn.__self__, fn.__name__ + "_with_http_info")
    r = twin(*args, **kwargs)
    if isinstance(r, tuple):  # client 32: (data, status, headers)
        return r[0], r[1], r[2]
    return r.data, r.status_code, r.headers  # client >= 36: ApiResponse


def raw(fn, *args, **kwargs):
    """(status, JSON body) of a typed call without model deserialization; non-2xx raises ApiException."""
    resp = fn(*args, _preload_content=False, **kwargs)
    data = resp.data if hasattr(resp, "data") else resp.read()
    status = resp.status
    if not 200 <= status <= 299:  # client >= 36 returns error responses when not preloading
        e = ApiException(status=status, reason=getattr(resp, "reason", ""))
        e.body = data.decode("utf-8", "replace")
        raise e
    return status, json.loads(data) if data else None


def as_dict(obj):
    """A typed answer as the JSON it came from: client 32 gives V1Status for deletes, the newest line a dict."""
    return obj if isinstance(obj, dict) else API.sanitize_for_serialization(obj)


def rv_int(rv):
    expect(rv is not None and re.fullmatch(r"[0-9]+", rv) is not None, "resourceVersion %r is not a decimal integer" % (rv,))
    return int(rv)


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

config.load_kube_config()  # client: honours KUBECONFIG
API = client.ApiClient()
CORE = client.CoreV1Api(API)
APPS = client.AppsV1Api(API)
BATCH = client.BatchV1Api(API)
NS = "pyclient-%d-%s" % (CLIENT_MAJOR, uuid.uuid4().hex[:6])
# k8s: the field manager of a non-apply write is the User-Agent's part before the first "/"
# (k8s.io/apiserver pkg/endpoints/handlers/rest.go prefixFromUserAgent); the client's User-Agent is
# "OpenAPI-Generator/<version>/python" (client: api_client.py).
DEFAULT_MANAGER = "OpenAPI-Generator"
STATE = {}


def cm(name, data=None, labels=None):
    return client.V1ConfigMap(
        api_version="v1", kind="ConfigMap", metadata=client.V1ObjectMeta(name=name, labels=labels), data=data
    )


def deployment(name, replicas=1, labels=None, template_labels=None, image="nginx:1.27"):
    labels = labels or {"app": name}
    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=template_labels or labels),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(name="web", image=image, ports=[client.V1ContainerPort(container_port=80)])
                    ]
                ),
            ),
        ),
    )


def names(items):
    return sorted(i.metadata.name for i in items)


# ---------------------------------------------------------------------------------------------
# Typed API: namespaces and ConfigMaps
# ---------------------------------------------------------------------------------------------


@check("typed.namespace.create")
def _():
    ns, status, _h = with_info(CORE.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    expect_eq(status, 201, "HTTP status of create")  # k8s: create answers 201 Created
    expect_eq(ns.metadata.name, NS, "metadata.name")
    expect_eq(ns.status.phase, "Active", "status.phase")  # k8s: namespace strategy PrepareForCreate
    expect_eq(ns.spec.finalizers, ["kubernetes"], "spec.finalizers")  # k8s: same, FinalizerKubernetes
    # k8s: pkg/apis/core/v1/defaults.go SetDefaults_Namespace labels kubernetes.io/metadata.name
    expect_eq((ns.metadata.labels or {}).get("kubernetes.io/metadata.name"), NS, "label kubernetes.io/metadata.name")


@check("typed.configmap.create")
def _():
    obj, status, _h = with_info(CORE.create_namespaced_config_map, NS, cm("cm-x", {"k": "v1"}, {"suite": "py"}))
    STATE["cm-x"] = obj
    expect_eq(status, 201, "HTTP status of create")
    md = obj.metadata
    expect_eq((md.name, md.namespace), ("cm-x", NS), "name/namespace")
    expect_eq(obj.data, {"k": "v1"}, "data")
    expect(md.uid and re.fullmatch(r"[0-9a-f-]{36}", md.uid), "metadata.uid %r is not a UUID" % md.uid)
    expect(md.creation_timestamp is not None, "metadata.creationTimestamp missing")
    rv_int(md.resource_version)


@check("typed.configmap.managed-fields")
def _():
    # k8s: every write records managedFields (fieldmanager, on by default since 1.18). A server
    # that records none has not built the field manager: named as a missing feature.
    md = STATE["cm-x"].metadata
    managers = [(m.manager, m.operation) for m in (md.managed_fields or [])]
    if not managers:
        raise Unsupported("managedFields (the field manager of server-side apply)", "the created object has none")
    expect_eq(managers, [(DEFAULT_MANAGER, "Update")], "metadata.managedFields (manager, operation)")


@check("typed.configmap.read")
def _():
    obj = CORE.read_namespaced_config_map("cm-x", NS)
    expect_eq(obj.data, {"k": "v1"}, "data")
    expect_eq(obj.metadata.resource_version, STATE["cm-x"].metadata.resource_version, "resourceVersion unchanged")
    expect_eq(obj.metadata.uid, STATE["cm-x"].metadata.uid, "uid")


@check("typed.configmap.replace")
def _():
    obj = CORE.read_namespaced_config_map("cm-x", NS)
    obj.data = {"k": "v2"}
    new, status, _h = with_info(CORE.replace_namespaced_config_map, "cm-x", NS, obj)
    expect_eq(status, 200, "HTTP status of replace")
    expect_eq(new.data, {"k": "v2"}, "data")
    expect(rv_int(new.metadata.resource_version) > rv_int(obj.metadata.resource_version), "resourceVersion did not increase")
    STATE["stale"] = obj  # carries the resourceVersion before this replace


@check("typed.configmap.replace-stale-resourceVersion-409")
def _():
    stale = STATE["stale"]
    stale.data = {"k": "stale"}
    e = api_error(CORE.replace_namespaced_config_map, "cm-x", NS, stale)
    # k8s: apimachinery pkg/api/errors NewConflict + registry store's OptimisticLockErrorMsg
    expect_status(
        e,
        409,
        "Conflict",
        'Operation cannot be fulfilled on configmaps "cm-x": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": "cm-x", "kind": "configmaps"},
    )


@check("typed.configmap.patch-strategic-merge")
def _():
    # client: a dict body to patch_* goes out as application/strategic-merge-patch+json
    obj = CORE.patch_namespaced_config_map("cm-x", NS, {"data": {"extra": "e"}, "metadata": {"labels": {"p": "1"}}})
    expect_eq(obj.data, {"k": "v2", "extra": "e"}, "data after merge")
    expect_eq(obj.metadata.labels, {"suite": "py", "p": "1"}, "labels after merge")
    expect("strategic-merge-patch+json" in RECORDER.requests[-1], "request was not sent as a strategic merge patch")


@check("typed.configmap.patch-json-patch")
def _():
    # client: a list body goes out as application/json-patch+json
    obj = CORE.patch_namespaced_config_map(
        "cm-x", NS, [{"op": "remove", "path": "/data/extra"}, {"op": "add", "path": "/data/j", "value": "jp"}]
    )
    expect_eq(obj.data, {"k": "v2", "j": "jp"}, "data after JSON patch")
    expect("json-patch+json" in RECORDER.requests[-1], "request was not sent as a JSON patch")


@check("typed.configmap.json-patch-test-failure-422")
def _():
    e = api_error(CORE.patch_namespaced_config_map, "cm-x", NS, [{"op": "test", "path": "/data/k", "value": "nope"}])
    # k8s: apiserver handlers/patch.go answers a JSON patch that does not apply with
    # errors.NewGenericServerResponse(422, ...): reason Invalid, the generic message (the json-patch error text is
    # not kept), empty details.
    body = expect_status(e, 422, "Invalid", "the server rejected our request due to an error in our request")
    expect_eq(body.get("details"), {}, "Status.details")


@check("typed.configmap.create-existing-409")
def _():
    e = api_error(CORE.create_namespaced_config_map, NS, cm("cm-x", {"k": "again"}))
    # k8s: errors.NewAlreadyExists(qualifiedResource, name)
    expect_status(e, 409, "AlreadyExists", 'configmaps "cm-x" already exists', {"name": "cm-x", "kind": "configmaps"})


@check("typed.configmap.read-missing-404")
def _():
    e = api_error(CORE.read_namespaced_config_map, "nope", NS)
    # k8s: errors.NewNotFound(qualifiedResource, name); body keys as COMPAT.md shows
    body = expect_status(e, 404, "NotFound", 'configmaps "nope" not found', {"name": "nope", "kind": "configmaps"})
    expect("group" not in body.get("details", {}), "details.group must be absent for the core group")
    for verb, fn, args in (
        ("patch", CORE.patch_namespaced_config_map, ("nope", NS, {"data": {"a": "b"}})),
        ("delete", CORE.delete_namespaced_config_map, ("nope", NS)),
        ("replace", CORE.replace_namespaced_config_map, ("nope", NS, cm("nope", {"a": "b"}, None))),
    ):
        # k8s: the configmap strategy's AllowCreateOnUpdate is false, so a PUT of a missing one is a 404 too
        e = api_error(fn, *args)
        expect_status(e, 404, "NotFound", 'configmaps "nope" not found', {"name": "nope", "kind": "configmaps"})


@check("typed.configmap.invalid-name-422")
def _():
    e = api_error(CORE.create_namespaced_config_map, NS, cm("Bad_Name", {"a": "b"}))
    # k8s: apimachinery validation.IsDNS1123Subdomain message, errors.NewInvalid(ConfigMap, name, errs)
    msg = (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    body = expect_status(
        e,
        422,
        "Invalid",
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ' + msg,
        {"name": "Bad_Name", "kind": "ConfigMap"},
    )
    causes = body.get("details", {}).get("causes")
    expect_eq(
        causes,
        [{"reason": "FieldValueInvalid", "message": 'Invalid value: "Bad_Name": ' + msg, "field": "metadata.name"}],
        "details.causes",
    )


@check("typed.configmap.list-label-selector")
def _():
    for n, tier in (("sel-a", "a"), ("sel-b", "b"), ("sel-c", "a")):
        CORE.create_namespaced_config_map(NS, cm(n, {"n": n}, {"sel": "1", "tier": tier}))
    # k8s: labels.Parse grammar: equality, set-based, inequality
    expect_eq(names(CORE.list_namespaced_config_map(NS, label_selector="sel=1,tier=a").items), ["sel-a", "sel-c"], "tier=a")
    expect_eq(names(CORE.list_namespaced_config_map(NS, label_selector="sel=1,tier in (a,b)").items), ["sel-a", "sel-b", "sel-c"], "tier in (a,b)")
    expect_eq(names(CORE.list_namespaced_config_map(NS, label_selector="sel=1,tier!=a").items), ["sel-b"], "tier!=a")
    expect_eq(names(CORE.list_namespaced_config_map(NS, label_selector="sel,!nothere").items), ["sel-a", "sel-b", "sel-c"], "exists/!exists")
    lst = CORE.list_namespaced_config_map(NS, label_selector="sel=1")
    expect_eq((lst.kind, lst.api_version), ("ConfigMapList", "v1"), "list kind/apiVersion")
    rv_int(lst.metadata.resource_version)


@check("typed.configmap.list-field-selector")
def _():
    # k8s: every resource indexes metadata.name and metadata.namespace (DefaultMetaV1FieldSelectorConversion)
    expect_eq(names(CORE.list_namespaced_config_map(NS, field_selector="metadata.name=sel-b").items), ["sel-b"], "metadata.name=sel-b")
    got = names(CORE.list_namespaced_config_map(NS, label_selector="sel=1", field_selector="metadata.name!=sel-b").items)
    expect_eq(got, ["sel-a", "sel-c"], "label sel=1 and metadata.name!=sel-b")
    all_ns = CORE.list_config_map_for_all_namespaces(field_selector="metadata.namespace=%s,metadata.name=sel-c" % NS)
    expect_eq(names(all_ns.items), ["sel-c"], "cluster-wide list by metadata.namespace and metadata.name")
    e = api_error(CORE.list_namespaced_config_map, NS, field_selector="data.n=x")
    expect_eq(e.status, 400, "HTTP status for an unindexed field")  # k8s: 400 BadRequest from ConvertFieldLabel
    expect_eq(status_body(e).get("reason"), "BadRequest", "Status.reason for an unindexed field")
    expect("data.n" in status_message(e), "message does not name the field: %r" % status_message(e))


@check("typed.configmap.list-limit-continue")
def _():
    for i in range(PAGE_OBJECTS):
        CORE.create_namespaced_config_map(NS, cm("page-%d" % i, {"i": str(i)}, {"page": "1"}))
    seen, token, rvs, pages = [], None, set(), 0
    while True:
        kw = {"label_selector": "page=1", "limit": PAGE_LIMIT}
        if token:
            kw["_continue"] = token
        lst = CORE.list_namespaced_config_map(NS, **kw)
        pages += 1
        expect(len(lst.items) <= PAGE_LIMIT, "page has %d items, limit %d" % (len(lst.items), PAGE_LIMIT))
        seen += [i.metadata.name for i in lst.items]
        rvs.add(lst.metadata.resource_version)
        # k8s: storage.PrepareContinueToken sets remainingItemCount only for an empty predicate
        expect_eq(lst.metadata.remaining_item_count, None, "remainingItemCount with a label selector")
        token = lst.metadata._continue
        if not token:
            break
        expect(pages < 10, "pagination does not end")
    # k8s: items in key order; every page served at the first page's revision
    expect_eq(seen, ["page-%d" % i for i in range(PAGE_OBJECTS)], "items across pages")
    expect_eq(pages, 3, "number of pages")
    expect_eq(len(rvs), 1, "list resourceVersion identical on every page (%s)" % sorted(rvs))
    full = CORE.list_namespaced_config_map(NS)
    first = CORE.list_namespaced_config_map(NS, limit=1)
    expect_eq(first.metadata.remaining_item_count, len(full.items) - 1, "remainingItemCount without selector")


@check("typed.configmap.delete")
def _():
    st, status, _h = with_info(CORE.delete_namespaced_config_map, "sel-a", NS)
    expect_eq(status, 200, "HTTP status of delete")
    st = as_dict(st)
    # k8s: registry Store.finalizeDelete: Status Success with details {name, kind: resource, uid}
    expect_eq((st.get("kind"), st.get("apiVersion"), st.get("status")), ("Status", "v1", "Success"), "Status kind/apiVersion/status")
    details = st.get("details") or {}
    expect_eq((details.get("name"), details.get("kind")), ("sel-a", "configmaps"), "Status.details name/kind")
    expect(details.get("uid"), "Status.details.uid missing")
    e = api_error(CORE.read_namespaced_config_map, "sel-a", NS)
    expect_eq(e.status, 404, "read after delete")


@check("typed.configmap.delete-collection")
def _():
    _d, status, _h = with_info(CORE.delete_collection_namespaced_config_map, NS, label_selector="page=1")
    expect_eq(status, 200, "HTTP status of deletecollection")
    expect_eq(CORE.list_namespaced_config_map(NS, label_selector="page=1").items, [], "page=1 items after deletecollection")
    # k8s: registry Store.DeleteCollection answers the list of the deleted objects (kind ConfigMapList)
    status, body = raw(CORE.delete_collection_namespaced_config_map, NS, label_selector="sel=1")
    expect_eq(body.get("kind"), "ConfigMapList", "kind of the deletecollection answer")
    expect_eq(sorted(i["metadata"]["name"] for i in body.get("items", [])), ["sel-b", "sel-c"], "deleted items")


# ---------------------------------------------------------------------------------------------
# Typed API: Deployments, scale
# ---------------------------------------------------------------------------------------------


@check("typed.deployment.create")
def _():
    obj, status, _h = with_info(APPS.create_namespaced_deployment, NS, deployment("web"))
    STATE["web"] = obj
    expect_eq(status, 201, "HTTP status of create")
    expect_eq(obj.metadata.generation, 1, "metadata.generation")  # k8s: deployment strategy PrepareForCreate
    expect_eq(obj.spec.selector.match_labels, {"app": "web"}, "spec.selector")
    expect_eq(obj.spec.template.spec.containers[0].image, "nginx:1.27", "container image")


@check("typed.deployment.defaults")
def _():
    d = APPS.read_namespaced_deployment("web", NS)
    s, pod, c = d.spec, d.spec.template.spec, d.spec.template.spec.containers[0]
    # k8s: pkg/apis/apps/v1/defaults.go SetDefaults_Deployment; pkg/apis/core/v1/defaults.go (pod spec, container)
    got = {
        "strategy.type": s.strategy and s.strategy.type,
        "rollingUpdate.maxUnavailable": s.strategy and s.strategy.rolling_update and s.strategy.rolling_update.max_unavailable,
        "rollingUpdate.maxSurge": s.strategy and s.strategy.rolling_update and s.strategy.rolling_update.max_surge,
        "revisionHistoryLimit": s.revision_history_limit,
        "progressDeadlineSeconds": s.progress_deadline_seconds,
        "restartPolicy": pod.restart_policy,
        "dnsPolicy": pod.dns_policy,
        "terminationGracePeriodSeconds": pod.termination_grace_period_seconds,
        "schedulerName": pod.scheduler_name,
        "imagePullPolicy": c.image_pull_policy,
        "terminationMessagePath": c.termination_message_path,
        "terminationMessagePolicy": c.termination_message_policy,
        "ports[0].protocol": c.ports[0].protocol,
    }
    want = {
        "strategy.type": "RollingUpdate",
        "rollingUpdate.maxUnavailable": "25%",
        "rollingUpdate.maxSurge": "25%",
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler",
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "ports[0].protocol": "TCP",
    }
    diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    expect(not diff, "defaults (got, want): %r" % diff)


@check("typed.deployment.model-keeps-every-field")
def _():
    # Every key the server sends is one the client's V1Deployment model knows (1.32's schema): nothing dropped.
    status, body = raw(APPS.read_namespaced_deployment, "web", NS)
    model = APPS.read_namespaced_deployment("web", NS)
    again = API.sanitize_for_serialization(model)
    missing = []

    def walk(a, b, path):
        if isinstance(a, dict):
            for k, v in a.items():
                if k == "fieldsV1" or path.endswith(".labels") or path.endswith(".annotations"):
                    continue
                # A null the server writes (a template's creationTimestamp, as Go's encoding/json
                # writes a zero metav1.Time) is dropped by the client's serializer, not lost.
                if v is None:
                    continue
                if not isinstance(b, dict) or k not in b:
                    missing.append(path + "." + k)
                else:
                    walk(v, b[k], path + "." + k)
        elif isinstance(a, list) and isinstance(b, list):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, "%s[%d]" % (path, i))

    walk(body, again, "")
    expect(not missing, "fields the server sent that the 1.32 model does not have: %s" % missing)


@check("typed.deployment.list")
def _():
    lst = APPS.list_namespaced_deployment(NS, label_selector="app=web")
    expect_eq(names(lst.items), ["web"], "deployments app=web")
    expect_eq((lst.kind, lst.api_version), ("DeploymentList", "apps/v1"), "list kind/apiVersion")


@check("typed.deployment.replace")
def _():
    d = APPS.read_namespaced_deployment("web", NS)
    d.spec.template.spec.containers[0].image = "nginx:1.27.1"
    new = APPS.replace_namespaced_deployment("web", NS, d)
    expect_eq(new.spec.template.spec.containers[0].image, "nginx:1.27.1", "image after replace")
    expect_eq(new.metadata.generation, 2, "generation after a spec change")  # k8s: strategy PrepareForUpdate


@check("typed.deployment.replace-stale-409")
def _():
    d = STATE["web"]  # resourceVersion from create: stale now
    e = api_error(APPS.replace_namespaced_deployment, "web", NS, d)
    expect_status(
        e,
        409,
        "Conflict",
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": "web", "group": "apps", "kind": "deployments"},
    )


@check("typed.deployment.patch-strategic-merge-containers-by-name")
def _():
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.36"},
        {"name": "web", "image": "nginx:1.28"},
    ]}}}}
    d = APPS.patch_namespaced_deployment("web", NS, body)
    cs = [(c.name, c.image, [p.container_port for p in (c.ports or [])]) for c in d.spec.template.spec.containers]
    # k8s: containers have x-kubernetes-patch-merge-key "name": web is merged with the live one (its ports kept), sidecar
    # is added; apimachinery strategicpatch mergeSlice then orders the result: items named in the patch keep the
    # patch's order and server-only items are interleaved by their live order (normalizeElementOrder), so here the
    # patch's order [sidecar, web] wins.
    expect_eq(cs, [("sidecar", "busybox:1.36", []), ("web", "nginx:1.28", [80])], "containers after strategic merge")
    d = APPS.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}})
    expect_eq([c.name for c in d.spec.template.spec.containers], ["web"], "containers after $patch: delete")
    # k8s: mergeSortedSlice puts a patch-only item before server-only ones it cannot be ordered against
    d = APPS.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "init", "image": "busybox:1.36"}]}}}})
    expect_eq([c.name for c in d.spec.template.spec.containers], ["init", "web"], "containers after adding one by strategic merge")
    APPS.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "init", "$patch": "delete"}]}}}})


@check("typed.deployment.patch-json-patch")
def _():
    d = APPS.patch_namespaced_deployment(
        "web", NS, [{"op": "replace", "path": "/spec/replicas", "value": 2}, {"op": "add", "path": "/metadata/labels/tier", "value": "fe"}]
    )
    expect_eq(d.spec.replicas, 2, "spec.replicas")
    expect_eq(d.metadata.labels, {"app": "web", "tier": "fe"}, "labels")


@check("typed.deployment.read-scale")
def _():
    sc = APPS.read_namespaced_deployment_scale("web", NS)
    d = APPS.read_namespaced_deployment("web", NS)
    # k8s: pkg/registry/apps/deployment/storage scaleFromDeployment: autoscaling/v1 Scale
    expect_eq((sc.kind, sc.api_version), ("Scale", "autoscaling/v1"), "kind/apiVersion")
    expect_eq((sc.metadata.name, sc.metadata.namespace), ("web", NS), "name/namespace")
    expect_eq(sc.metadata.uid, d.metadata.uid, "uid is the deployment's")
    expect_eq(sc.metadata.resource_version, d.metadata.resource_version, "resourceVersion is the deployment's")
    expect_eq(sc.spec.replicas, 2, "spec.replicas")
    expect_eq(sc.status.replicas, 0, "status.replicas (no controller has run)")
    expect_eq(sc.status.selector, "app=web", "status.selector")  # k8s: metav1.LabelSelectorAsSelector(...).String()


@check("typed.deployment.patch-scale")
def _():
    sc = APPS.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    expect_eq(sc.spec.replicas, 3, "scale spec.replicas after patch")
    expect_eq(APPS.read_namespaced_deployment("web", NS).spec.replicas, 3, "deployment spec.replicas after scale patch")
    sc = APPS.read_namespaced_deployment_scale("web", NS)
    sc.spec.replicas = 1
    sc2 = APPS.replace_namespaced_deployment_scale("web", NS, sc)
    expect_eq(sc2.spec.replicas, 1, "scale spec.replicas after replace")


@check("typed.deployment.invalid-replicas-422")
def _():
    e = api_error(APPS.create_namespaced_deployment, NS, deployment("bad", replicas=-1))
    # k8s: pkg/apis/apps/validation ValidateDeploymentSpec -> ValidateNonnegativeField
    body = expect_status(
        e,
        422,
        "Invalid",
        'Deployment.apps "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
        {"name": "bad", "group": "apps", "kind": "Deployment"},
    )
    expect_eq(
        body["details"].get("causes"),
        [{"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0", "field": "spec.replicas"}],
        "details.causes",
    )


@check("typed.deployment.selector-mismatch-422")
def _():
    e = api_error(APPS.create_namespaced_deployment, NS, deployment("bad2", template_labels={"app": "other"}))
    # k8s: pkg/apis/apps/validation ValidateDeploymentSpec: selector must match template labels
    expect_status(
        e,
        422,
        "Invalid",
        'Deployment.apps "bad2" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"other"}: `selector` does not match template `labels`',
        {"name": "bad2", "group": "apps", "kind": "Deployment"},
    )


@check("typed.deployment.read-missing-404")
def _():
    e = api_error(APPS.read_namespaced_deployment, "nope", NS)
    expect_status(e, 404, "NotFound", 'deployments.apps "nope" not found', {"name": "nope", "group": "apps", "kind": "deployments"})


@check("typed.server-side-apply")
def _():
    if not PYDANTIC_MODELS:
        # client 32: the typed patch_* calls pick the content type themselves; SSA goes through dynamic (below).
        raise Skip("client %s's typed API cannot send application/apply-patch+yaml" % CLIENT_VERSION)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}}
    try:
        obj, status, _h = with_info(
            CORE.patch_namespaced_config_map, "applied", NS, body, field_manager="suite-a", _content_type="application/apply-patch+yaml"
        )
    except ApiException as e:
        unsupported_or_fail("server-side apply (PATCH application/apply-patch+yaml)", e)
    expect_eq(status, 201, "HTTP status of an apply that creates")  # k8s: patch.go answers 201 when apply created
    expect_eq(obj.data, {"a": "1"}, "data")
    mf = [(m.manager, m.operation) for m in obj.metadata.managed_fields or []]
    expect_eq(mf, [("suite-a", "Apply")], "managedFields")
    body["data"] = {"a": "2"}
    e = api_error(
        CORE.patch_namespaced_config_map, "applied", NS, body, field_manager="suite-b", _content_type="application/apply-patch+yaml"
    )
    # k8s: apimachinery pkg/util/managedfields/internal/conflict.go
    expect_status(e, 409, "Conflict", 'Apply failed with 1 conflict: conflict with "suite-a": .data.a')
    obj = CORE.patch_namespaced_config_map(
        "applied", NS, body, field_manager="suite-b", force=True, _content_type="application/apply-patch+yaml"
    )
    expect_eq(obj.data, {"a": "2"}, "data after a forced apply")
    expect_eq([m.manager for m in obj.metadata.managed_fields], ["suite-b"], "managers after the forced apply took .data.a")


@check("typed.deployment.delete-background")
def _():
    st, status, _h = with_info(
        APPS.delete_namespaced_deployment, "web", NS, body=client.V1DeleteOptions(propagation_policy="Background")
    )
    expect_eq(status, 200, "HTTP status")
    st = as_dict(st)
    expect_eq(st.get("status"), "Success", "Status.status")
    details = st.get("details") or {}
    expect_eq((details.get("name"), details.get("group"), details.get("kind")), ("web", "apps", "deployments"), "Status.details")
    expect("propagationPolicy" in (RECORDER.requests[-1] or ""), "DeleteOptions body not sent")
    expect_eq(api_error(APPS.read_namespaced_deployment, "web", NS).status, 404, "read after delete")


# ---------------------------------------------------------------------------------------------
# Typed models across kinds (pydantic-strict in the newest line)
# ---------------------------------------------------------------------------------------------


@check("typed.models.service-and-defaults")
def _():
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="svc"),
        spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(port=80)]),
    )
    s = CORE.create_namespaced_service(NS, svc)
    # k8s: pkg/apis/core/v1/defaults.go SetDefaults_Service, ServicePort; clusterIP from --service-cluster-ip-range
    got = (s.spec.type, s.spec.session_affinity, s.spec.ports[0].protocol, s.spec.ports[0].target_port, s.spec.ip_families, s.spec.ip_family_policy, s.spec.internal_traffic_policy)
    expect_eq(got, ("ClusterIP", "None", "TCP", 80, ["IPv4"], "SingleStack", "Cluster"), "service defaults")
    expect(s.spec.cluster_ip and s.spec.cluster_ip.startswith("10.0.0."), "clusterIP %r not from 10.0.0.0/24" % s.spec.cluster_ip)
    # client: the 32 line names the field cluster_i_ps, the pydantic line cluster_ips.
    cluster_ips = getattr(s.spec, "cluster_ips", None) or getattr(s.spec, "cluster_i_ps", None)
    expect_eq(cluster_ips, [s.spec.cluster_ip], "clusterIPs")


@check("typed.models.job-create")
def _():
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="job"),
        spec=client.V1JobSpec(
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(restart_policy="Never", containers=[client.V1Container(name="c", image="busybox:1.36")])
            )
        ),
    )
    j = BATCH.create_namespaced_job(NS, job)
    uid = j.metadata.uid
    # k8s: pkg/registry/batch/job strategy generateSelector; pkg/apis/batch/v1/defaults.go SetDefaults_Job
    expect_eq(j.spec.selector and j.spec.selector.match_labels, {"batch.kubernetes.io/controller-uid": uid}, "generated selector")
    labels = j.spec.template.metadata and j.spec.template.metadata.labels or {}
    want = {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "job", "controller-uid": uid, "job-name": "job"}
    expect_eq(labels, want, "template labels")
    expect_eq((j.spec.completions, j.spec.parallelism, j.spec.backoff_limit, j.spec.completion_mode, j.spec.suspend), (1, 1, 6, "NonIndexed", False), "job defaults")


@check("typed.models.read-and-list-many-kinds")
def _():
    # Each call deserializes into the client's models; a missing required field or a wrongly typed one raises.
    calls = [
        ("CoreV1Api.list_namespace", CORE.list_namespace),
        ("CoreV1Api.read_namespace(default)", lambda: CORE.read_namespace("default")),
        ("CoreV1Api.list_node", CORE.list_node),
        ("CoreV1Api.list_pod_for_all_namespaces", CORE.list_pod_for_all_namespaces),
        ("CoreV1Api.list_service_for_all_namespaces", CORE.list_service_for_all_namespaces),
        ("CoreV1Api.list_config_map_for_all_namespaces", CORE.list_config_map_for_all_namespaces),
        ("CoreV1Api.list_secret_for_all_namespaces", CORE.list_secret_for_all_namespaces),
        ("CoreV1Api.list_service_account_for_all_namespaces", CORE.list_service_account_for_all_namespaces),
        ("CoreV1Api.list_event_for_all_namespaces", CORE.list_event_for_all_namespaces),
        ("CoreV1Api.list_endpoints_for_all_namespaces", CORE.list_endpoints_for_all_namespaces),
        ("CoreV1Api.get_api_resources", CORE.get_api_resources),
        ("AppsV1Api.list_deployment_for_all_namespaces", APPS.list_deployment_for_all_namespaces),
        ("AppsV1Api.list_replica_set_for_all_namespaces", APPS.list_replica_set_for_all_namespaces),
        ("BatchV1Api.list_job_for_all_namespaces", BATCH.list_job_for_all_namespaces),
        ("CoordinationV1Api.list_lease_for_all_namespaces", client.CoordinationV1Api(API).list_lease_for_all_namespaces),
        ("RbacAuthorizationV1Api.list_cluster_role", client.RbacAuthorizationV1Api(API).list_cluster_role),
        ("CoreApi.get_api_versions", client.CoreApi(API).get_api_versions),
        ("ApisApi.get_api_versions", client.ApisApi(API).get_api_versions),
        ("VersionApi.get_code", client.VersionApi(API).get_code),
    ]
    broken = []
    for label, fn in calls:
        try:
            fn()
        except Exception as e:  # ApiException or a model validation error
            broken.append("%s: %s" % (label, str(e).splitlines()[0][:200]))
    expect(not broken, "calls that raised: %s" % broken)
    v = client.VersionApi(API).get_code()
    expect_eq((v.major, v.minor), ("1", "32"), "version major/minor")
    groups = {g.name for g in client.ApisApi(API).get_api_versions().groups}
    missing = {"apps", "batch", "coordination.k8s.io", "rbac.authorization.k8s.io", "policy"} - groups
    expect(not missing, "groups missing from /apis: %s" % sorted(missing))


# ---------------------------------------------------------------------------------------------
# Watch
# ---------------------------------------------------------------------------------------------


def collect(stream, name=None):
    out = []
    for ev in stream:
        obj = ev["raw_object"]
        if name is None or obj.get("metadata", {}).get("name") == name:
            out.append(ev)
    return out


@check("watch.replay-added-modified-deleted")
def _():
    rv0 = CORE.list_namespaced_config_map(NS).metadata.resource_version
    c = CORE.create_namespaced_config_map(NS, cm("w1", {"v": "1"}))
    p = CORE.patch_namespaced_config_map("w1", NS, {"data": {"v": "2"}})
    CORE.delete_namespaced_config_map("w1", NS)
    t0 = time.monotonic()
    evs = collect(
        watch.Watch().stream(
            CORE.list_namespaced_config_map, NS, resource_version=rv0, timeout_seconds=WATCH_TIMEOUT_SECONDS,
            _request_timeout=WATCH_CLIENT_GUARD_SECONDS,
        ),
        "w1",
    )
    elapsed = time.monotonic() - t0
    # k8s: a watch from resourceVersion N delivers every change after N, in order
    expect_eq([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED"], "event types")
    expect_eq([e["object"].data for e in evs], [{"v": "1"}, {"v": "2"}, {"v": "2"}], "event objects' data")
    expect(all(isinstance(e["object"], client.V1ConfigMap) for e in evs), "event objects are not V1ConfigMap")
    rvs = [rv_int(e["object"].metadata.resource_version) for e in evs]
    expect_eq(rvs[:2], [rv_int(c.metadata.resource_version), rv_int(p.metadata.resource_version)], "ADDED/MODIFIED resourceVersions")
    expect(rvs[2] > rvs[1], "DELETED resourceVersion %d not after MODIFIED %d" % (rvs[2], rvs[1]))
    STATE["w1-modified-rv"] = evs[1]["object"].metadata.resource_version
    expect(elapsed < WATCH_TIMEOUT_SECONDS + 5, "watch with timeoutSeconds=%d lasted %.1fs" % (WATCH_TIMEOUT_SECONDS, elapsed))


@check("watch.resume-from-resourceVersion")
def _():
    expect("w1-modified-rv" in STATE, "needs watch.replay-added-modified-deleted, which failed")
    evs = collect(
        watch.Watch().stream(
            CORE.list_namespaced_config_map, NS, resource_version=STATE["w1-modified-rv"],
            timeout_seconds=WATCH_TIMEOUT_SECONDS, _request_timeout=WATCH_CLIENT_GUARD_SECONDS,
        ),
        "w1",
    )
    expect_eq([e["type"] for e in evs], ["DELETED"], "events after the MODIFIED event's resourceVersion")


@check("watch.live-with-thread")
def _():
    events, errors = [], []
    # Watching from the list's resourceVersion makes the test independent of when the watch is established.
    rv0 = CORE.list_namespaced_config_map(NS).metadata.resource_version

    def consume():
        try:
            w = watch.Watch()
            for ev in w.stream(
                CORE.list_namespaced_config_map, NS, field_selector="metadata.name=w2", resource_version=rv0,
                timeout_seconds=LIVE_WATCH_SECONDS, _request_timeout=WATCH_CLIENT_GUARD_SECONDS,
            ):
                events.append((ev["type"], (ev["object"].data or {}).get("v")))
                if ev["type"] == "DELETED":
                    w.stop()
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.5)
    CORE.create_namespaced_config_map(NS, cm("w2", {"v": "1"}))
    CORE.replace_namespaced_config_map("w2", NS, cm("w2", {"v": "2"}))
    CORE.delete_namespaced_config_map("w2", NS, body=client.V1DeleteOptions())
    t.join(WATCH_CLIENT_GUARD_SECONDS + 5)
    expect(not t.is_alive(), "watch thread did not end")
    expect(not errors, "watch raised %r" % errors)
    expect_eq(events, [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")], "live events")


@check("watch.initial-state-without-resourceVersion")
def _():
    CORE.create_namespaced_config_map(NS, cm("w3a", {}, {"w3": "1"}))
    CORE.create_namespaced_config_map(NS, cm("w3b", {}, {"w3": "1"}))
    evs = collect(watch.Watch().stream(
        CORE.list_namespaced_config_map, NS, label_selector="w3=1", timeout_seconds=1, _request_timeout=WATCH_CLIENT_GUARD_SECONDS
    ))
    # k8s: a watch without resourceVersion starts with synthetic ADDED events for the current state
    expect_eq(sorted((e["type"], e["object"].metadata.name) for e in evs), [("ADDED", "w3a"), ("ADDED", "w3b")], "initial events")


@check("watch.watchlist-initial-events-bookmark")
def _():
    # k8s 1.32 (WatchList, beta and on): sendInitialEvents=true with resourceVersionMatch=NotOlderThan and
    # allowWatchBookmarks=true streams ADDED for the current state, then a BOOKMARK annotated
    # k8s.io/initial-events-end: "true" (apiserver pkg/storage/cacher), then changes.
    evs = []
    w = watch.Watch()
    for ev in w.stream(
        CORE.list_namespaced_config_map, NS, label_selector="w3=1", allow_watch_bookmarks=True, send_initial_events=True,
        resource_version_match="NotOlderThan", timeout_seconds=WATCH_TIMEOUT_SECONDS, _request_timeout=WATCH_CLIENT_GUARD_SECONDS,
    ):
        evs.append(ev)
        if ev["type"] == "BOOKMARK":
            w.stop()
    got = [(e["type"], e["raw_object"]["metadata"].get("name")) for e in evs]
    expect_eq(sorted(got[:-1]), [("ADDED", "w3a"), ("ADDED", "w3b")], "initial events")
    expect(got and got[-1][0] == "BOOKMARK", "no BOOKMARK after the initial events: %r" % got)
    ann = evs[-1]["raw_object"]["metadata"].get("annotations") or {}
    expect_eq(ann.get("k8s.io/initial-events-end"), "true", "bookmark annotation k8s.io/initial-events-end")
    rv_int(evs[-1]["raw_object"]["metadata"].get("resourceVersion"))


def compact_store():
    endpoints = os.environ.get("ETCD_ENDPOINTS")
    if not endpoints or not shutil.which("etcdctl"):
        return None
    env = dict(os.environ, ETCDCTL_API="3")
    out = subprocess.run(["etcdctl", "--endpoints", endpoints, "endpoint", "status", "-w", "json"], env=env, capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise CheckFailed("etcdctl endpoint status failed: %s" % out.stderr.strip())
    rev = json.loads(out.stdout)[0]["Status"]["header"]["revision"]
    out = subprocess.run(["etcdctl", "--endpoints", endpoints, "compact", str(rev)], env=env, capture_output=True, text=True, timeout=20)
    if out.returncode != 0 and "already been compacted" not in out.stderr:
        raise CheckFailed("etcdctl compact failed: %s" % out.stderr.strip())
    return rev


@check("watch.too-old-resourceVersion-410")
def _():
    CORE.create_namespaced_config_map(NS, cm("w4", {"v": "1"}))
    compacted = compact_store()
    # resourceVersion "1" is older than a real kube-apiserver's watch cache window and, once the store is
    # compacted, older than the store's history.
    try:
        evs = list(watch.Watch().stream(
            CORE.list_namespaced_config_map, NS, resource_version="1", timeout_seconds=WATCH_TIMEOUT_SECONDS,
            _request_timeout=WATCH_CLIENT_GUARD_SECONDS,
        ))
    except ApiException as e:
        # client: watch.py turns the ERROR event's Status into ApiException(status=code, reason="<reason>: <message>")
        expect_eq(e.status, 410, "ApiException.status")
        # k8s: cacher watch_cache.go "too old resource version: %d (%d)"; etcd3 errors.go without the cache
        ok = re.fullmatch(r"Expired: (too old resource version: 1 \(\d+\)|The resourceVersion for the provided watch is too old\.)", str(e.reason))
        expect(ok, "ApiException.reason %r" % e.reason)
        return
    raise CheckFailed("watch from resourceVersion 1 (store compacted at %s) gave %d events and no 410" % (compacted, len(evs)))


# ---------------------------------------------------------------------------------------------
# Dynamic client
# ---------------------------------------------------------------------------------------------

DYN = {}


def dyn():
    if "client" not in DYN:
        DYN["cache"] = tempfile.NamedTemporaryFile(prefix="pyclient-discovery-", suffix=".json", delete=False).name
        os.unlink(DYN["cache"])
        DYN["client"] = dynamic.DynamicClient(API, cache_file=DYN["cache"])
    return DYN["client"]


@check("dynamic.discovery")
def _():
    dc = dyn()
    expect_eq((dc.version["kubernetes"]["major"], dc.version["kubernetes"]["minor"]), ("1", "32"), "dc.version")
    r = dc.resources.get(api_version="v1", kind="ConfigMap")
    expect_eq((r.name, r.namespaced, r.group_version), ("configmaps", True, "v1"), "ConfigMap resource")
    # k8s: /api/v1 APIResourceList: configmaps verbs and short name cm
    expect_eq(sorted(r.verbs), sorted(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]), "verbs")
    expect_eq(r.short_names, ["cm"], "shortNames")
    d = dc.resources.get(api_version="apps/v1", kind="Deployment")
    expect_eq((d.name, d.group, d.categories), ("deployments", "apps", ["all"]), "Deployment resource")
    expect("scale" in d.subresources and "status" in d.subresources, "deployments subresources: %s" % list(d.subresources))
    found = [(x.group_version, x.name) for x in dc.resources.search(kind="Deployment")]
    expect_eq(found, [("apps/v1", "deployments")], "search(kind=Deployment)")
    lease = dc.resources.search(group="coordination.k8s.io", kind="Lease")
    expect_eq([x.name for x in lease], ["leases"], "search(group, kind=Lease)")


@check("dynamic.configmap-create-get-patch-delete")
def _():
    dc = dyn()
    r = dc.resources.get(api_version="v1", kind="ConfigMap")
    obj = r.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn", "labels": {"d": "1"}}, "data": {"a": "1"}}, namespace=NS)
    expect_eq((obj.kind, obj.metadata.name, obj.data.a), ("ConfigMap", "dyn", "1"), "created")
    got = r.get(name="dyn", namespace=NS)
    expect_eq(got.metadata.uid, obj.metadata.uid, "get uid")
    lst = r.get(namespace=NS, label_selector="d=1")
    expect_eq([i.metadata.name for i in lst.items], ["dyn"], "list by label")
    p = r.patch(body={"metadata": {"name": "dyn"}, "data": {"b": "2"}}, namespace=NS)  # client: strategic merge by default
    expect_eq(dict(p.data), {"a": "1", "b": "2"}, "data after strategic merge")
    p = r.patch(body={"metadata": {"name": "dyn"}, "data": {"a": None}}, namespace=NS, content_type="application/merge-patch+json")
    expect_eq(dict(p.data), {"b": "2"}, "data after merge patch with null")
    st = r.delete(name="dyn", namespace=NS)
    expect_eq((st.status, st.details.name, st.details.kind), ("Success", "dyn", "configmaps"), "delete Status")
    try:
        r.get(name="dyn", namespace=NS)
        raise CheckFailed("get after delete succeeded")
    except dynamic.exceptions.NotFoundError as e:
        # client: dynamic/exceptions.py api_exception maps 404 to NotFoundError
        expect_eq(json.loads(e.body)["message"], 'configmaps "dyn" not found', "404 message")


@check("dynamic.deployment-and-scale")
def _():
    dc = dyn()
    r = dc.resources.get(api_version="apps/v1", kind="Deployment")
    body = API.sanitize_for_serialization(deployment("dweb"))
    obj = r.create(body=body, namespace=NS)
    expect_eq(obj.spec.replicas, 1, "replicas")
    sc = r.subresources["scale"].get(name="dweb", namespace=NS)
    expect_eq((sc.kind, sc.spec.replicas), ("Scale", 1), "scale")
    sc = r.subresources["scale"].patch(body={"spec": {"replicas": 4}}, name="dweb", namespace=NS, content_type="application/merge-patch+json")
    expect_eq(sc.spec.replicas, 4, "scale after merge patch")
    r.delete(name="dweb", namespace=NS, body={"propagationPolicy": "Background"})


@check("dynamic.watch")
def _():
    dc = dyn()
    r = dc.resources.get(api_version="v1", kind="ConfigMap")
    rv0 = r.get(namespace=NS).metadata.resourceVersion
    r.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dw"}, "data": {"v": "1"}}, namespace=NS)
    r.delete(name="dw", namespace=NS)
    evs = [e for e in r.watch(namespace=NS, resource_version=rv0, timeout=WATCH_TIMEOUT_SECONDS) if e["object"].metadata.name == "dw"]
    expect_eq([e["type"] for e in evs], ["ADDED", "DELETED"], "dynamic watch events")


@check("dynamic.server-side-apply")
def _():
    dc = dyn()
    r = dc.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dssa"}, "data": {"x": "1"}}
    try:
        obj = dc.server_side_apply(r, body=body, namespace=NS, field_manager="dyn-suite")
    except ApiException as e:
        unsupported_or_fail("server-side apply (PATCH application/apply-patch+yaml)", e)
    expect_eq(dict(obj.data), {"x": "1"}, "data")
    expect_eq([(m.manager, m.operation) for m in obj.metadata.managedFields], [("dyn-suite", "Apply")], "managedFields")


# ---------------------------------------------------------------------------------------------
# Cleanup
# ---------------------------------------------------------------------------------------------


@check("typed.namespace.delete")
def _():
    status, body = raw(CORE.delete_namespace, NS)
    expect_eq(status, 200, "HTTP status")
    # k8s: namespace deletion returns the Namespace, now Terminating (finalizer "kubernetes" pending)
    expect_eq(body.get("kind"), "Namespace", "kind of the answer")
    expect_eq(body.get("status", {}).get("phase"), "Terminating", "status.phase")
    expect(body.get("metadata", {}).get("deletionTimestamp"), "metadata.deletionTimestamp missing")


# ---------------------------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------------------------


def main():
    only = [s for s in os.environ.get("SUITE_ONLY", "").split(",") if s]
    verbose = os.environ.get("SUITE_VERBOSE") == "1"
    print("# kubernetes client %s, server %s, namespace %s" % (CLIENT_VERSION, API.configuration.host, NS))
    for name, fn in CHECKS:
        if only and not any(s in name for s in only) and name not in ("typed.namespace.create", "typed.namespace.delete"):
            continue
        RECORDER.reset()
        try:
            fn()
            RESULTS["PASS"].append(name)
            print("PASS  %s" % name)
        except Unsupported as u:
            RESULTS["XFAIL"].append(name)
            print("XFAIL %s: missing feature: %s" % (name, u))
        except Skip as s:
            RESULTS["SKIP"].append(name)
            print("SKIP  %s: %s" % (name, s))
        except Exception as e:
            RESULTS["FAIL"].append(name)
            if isinstance(e, ApiException):
                detail = "unexpected ApiException %s: %s" % (e.status, status_message(e))
            elif isinstance(e, CheckFailed):
                detail = str(e)
            else:
                detail = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
                frames = traceback.extract_tb(e.__traceback__)
                if isinstance(e, KeyError) and frames and frames[-1].filename.endswith(os.path.join("watch", "watch.py")):
                    detail += " (the client's Watch read a line that is not a watch event: the server did not answer as a watch)"
            print("FAIL  %s: %s" % (name, detail))
            reqs = RECORDER.requests if verbose else RECORDER.requests[-3:]
            for r in reqs:
                print("      request: %s" % r)
            if not isinstance(e, (CheckFailed, ApiException)):
                tb = traceback.extract_tb(e.__traceback__)[-1]
                print("      at %s:%d" % (os.path.basename(tb.filename), tb.lineno))
    if "cache" in DYN and os.path.exists(DYN["cache"]):
        os.unlink(DYN["cache"])
    p, f, x, s = (len(RESULTS[k]) for k in ("PASS", "FAIL", "XFAIL", "SKIP"))
    print("# expected failures (missing server features): %d%s" % (x, " — " + ", ".join(RESULTS["XFAIL"]) if x else ""))
    print("# client-line skips: %d%s" % (s, " — " + ", ".join(RESULTS["SKIP"]) if s else ""))
    if f:
        print("# failed: " + ", ".join(RESULTS["FAIL"]))
    print("kubernetes-%s: %d passed, %d failed, %d skipped" % (CLIENT_VERSION, p, f, x + s))
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
