#!/usr/bin/env python3
"""Bad input against a Kubernetes apiserver: every answer a Status, the server never dies, nothing half written.

Sends, from a seeded random generator, malformed and truncated JSON bodies, deeply nested JSON, bodies over the
3 MiB limit, protobuf garbage, bad label and field selectors, bad query parameters, bad JSON / merge / strategic
merge patches, updates from stale resourceVersions, and connections cut mid-request. Checks:

  - every HTTP answer below 500, except the 504 of a timeout (none is expected here);
  - every failure is a Status object (kind Status, status Failure, its code the HTTP code) with a message;
  - the server answers /healthz after every batch and at the end;
  - nothing half written: the objects in the fuzz namespace are exactly those whose create answered 201, and each
    reads back whole.

The cluster comes from KUBECONFIG through the `kubernetes` client's loader (for its certificates only; the requests
are raw HTTP). FUZZ_SEED and FUZZ_ROUNDS choose the run (defaults 1 and 300). Exit status 0 when every check held.
"""

import http.client
import json
import os
import random
import socket
import ssl
import sys
import urllib.parse

from kubernetes import client, config

SEED = int(os.environ.get("FUZZ_SEED", "1"))
ROUNDS = int(os.environ.get("FUZZ_ROUNDS", "300"))
MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's request body limit
NS = "fuzz-%d-%s" % (SEED, os.urandom(3).hex())  # a namespace of its own, whatever earlier runs left

config.load_kube_config()
CFG = client.Configuration.get_default_copy()
URL = urllib.parse.urlparse(CFG.host)
CTX = ssl.create_default_context(cafile=CFG.ssl_ca_cert)
if CFG.cert_file:
    CTX.load_cert_chain(CFG.cert_file, CFG.key_file)
RNG = random.Random(SEED)
# Answers may nest as deeply as the server's decoder allows (10,000 levels): read them back whole.
sys.setrecursionlimit(100_000)
FAILURES = []
CREATED = set()


def request(method, path, body=None, content_type="application/json", accept="application/json"):
    conn = http.client.HTTPSConnection(URL.hostname, URL.port, context=CTX, timeout=30)
    headers = {"Accept": accept}
    if body is not None:
        headers["Content-Type"] = content_type
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def fail(what, detail):
    FAILURES.append("%s: %s" % (what, detail))
    print("FAIL %s: %s" % (what, detail[:300]))


def check(what, method, path, body=None, content_type="application/json", ok=(200, 201)):
    """Sends one request; a success must be in `ok`, a failure a Status below 500."""
    try:
        status, data = request(method, path, body, content_type)
    except Exception as e:  # noqa: BLE001 - a dropped connection is a failure of the server
        fail(what, "no answer: %r" % e)
        return None, None
    if status in ok:
        return status, data
    if status >= 500:
        fail(what, "HTTP %d: %s" % (status, data[:200]))
    try:
        doc = json.loads(data)
    except ValueError:
        fail(what, "HTTP %d with a body that is not JSON: %r" % (status, data[:200]))
        return status, data
    if not (doc.get("kind") == "Status" and doc.get("status") == "Failure" and doc.get("code") == status and doc.get("message")):
        fail(what, "HTTP %d without a Status: %r" % (status, data[:200]))
    return status, data


def configmap(name, data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def mutate(text):
    """A random corruption of a JSON text: cut, flipped byte, inserted or deleted character."""
    b = bytearray(text.encode())
    for _ in range(RNG.randint(1, 3)):
        op = RNG.randrange(4)
        i = RNG.randrange(len(b)) if b else 0
        if op == 0:
            b = b[: RNG.randrange(len(b) + 1)]
        elif op == 1 and b:
            b[i] ^= 1 << RNG.randrange(8)
        elif op == 2:
            b.insert(i, RNG.choice(b'{}[]",:\\0123456789abc \x00\xff'))
        elif b:
            del b[i]
    return bytes(b)


def create_path(resource="configmaps"):
    return "/api/v1/namespaces/%s/%s" % (NS, resource)


def round_malformed(n):
    name = "m-%d" % n
    body = mutate(json.dumps(configmap(name)))
    status, _ = check("malformed create", "POST", create_path(), body)
    if status == 201:
        try:
            CREATED.add(json.loads(body)["metadata"]["name"])
        except Exception:  # noqa: BLE001 - the server took a body this parser does not: read back below
            CREATED.add(name)


def round_good(n):
    name = "g-%d" % n
    status, _ = check("create", "POST", create_path(), json.dumps(configmap(name)))
    if status == 201:
        CREATED.add(name)


def round_types(n):
    wrong = RNG.choice([
        {"data": "not a map"}, {"data": {"k": 1}}, {"metadata": {"name": "t-%d" % n, "labels": "x"}},
        {"metadata": {"name": "t-%d" % n, "labels": {"a": 5}}}, {"metadata": []}, {"kind": 7}, {"apiVersion": ["v1"]},
        {"metadata": {"name": "Bad Name %d" % n}}, {"metadata": {"name": "x" * 300}}, {"metadata": {"generateName": "UP"}},
    ])
    obj = configmap("t-%d" % n)
    obj.update(wrong)
    if "metadata" in wrong and isinstance(wrong["metadata"], dict):
        obj["metadata"] = wrong["metadata"]
    status, _ = check("wrong types", "POST", create_path(), json.dumps(obj))
    if status == 201:
        CREATED.add(obj["metadata"]["name"])


def round_nested(n):
    depth = RNG.choice([100, 5000, 10001, 20000])
    body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"n-%d"},"x":%s%s}' % (n, "[" * depth, "]" * depth)
    status, _ = check("nested", "POST", create_path(), body, ok=(201,))
    if status == 201:
        CREATED.add("n-%d" % n)


def round_huge(n):
    body = json.dumps(configmap("h-%d" % n, {"k": "x" * (MAX_BODY + RNG.randint(1, 1000))}))
    status, _ = check("huge body", "POST", create_path(), body, ok=())
    if status is not None and status != 413:
        fail("huge body", "HTTP %d, want 413" % status)


def round_protobuf(n):
    body = bytes(RNG.randrange(256) for _ in range(RNG.randint(0, 64)))
    if RNG.random() < 0.5:
        body = b"k8s\x00" + body
    check("protobuf garbage", "POST", create_path(), body, content_type="application/vnd.kubernetes.protobuf", ok=())


def round_selectors(n):
    junk = "".join(RNG.choice("ab=!,()in notin <>x.y/z \\\x00~") for _ in range(RNG.randint(1, 20)))
    param = RNG.choice(["labelSelector", "fieldSelector"])
    check("selector", "GET", create_path() + "?" + urllib.parse.urlencode({param: junk}), ok=(200,))


def round_query(n):
    q = RNG.choice([
        "limit=abc", "limit=-5", "resourceVersion=-1", "resourceVersion=abc", "resourceVersionMatch=Bogus&resourceVersion=1",
        "continue=garbage", "continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiIuLi8uLi9zZWNyZXRzIn0=",
        "watch=1&resourceVersion=abc", "watch=1&timeoutSeconds=x", "watch=1&sendInitialEvents=true",
        "dryRun=Sometimes", "fieldSelector=spec.nodeName=x", "includeObject=Everything", "pretty=maybe",
    ])
    check("query " + q, "GET", create_path() + "?" + q, ok=(200,))


def round_patch(n):
    if not CREATED:
        return
    name = RNG.choice(sorted(CREATED))
    kind, body = RNG.choice([
        ("application/json-patch+json", json.dumps([{"op": RNG.choice(["add", "remove", "replace", "move", "copy", "test", "boom"]),
                                                      "path": RNG.choice(["/data/k", "/data", "/metadata/name", "/x/y/z", "", "nope"]),
                                                      "value": RNG.choice([1, "s", None, {"a": 1}])}])),
        ("application/json-patch+json", RNG.choice(['{"op":"add"}', '[1,2]', '[{"op":"remove"}]', 'null'])),
        ("application/merge-patch+json", RNG.choice(['{"data":5}', '{"metadata":{"name":"other"}}', '[]', '"x"', '{"data":{"k":null}}'])),
        ("application/strategic-merge-patch+json", RNG.choice(['{"$patch":"explode"}', '{"data":{"$patch":"delete"}}', '[]',
                                                               '{"metadata":{"$deleteFromPrimitiveList/finalizers":5}}'])),
        ("application/json-patch+json", mutate('[{"op":"replace","path":"/data/k","value":"w"}]').decode("latin-1")),
    ])
    check("patch " + kind, "PATCH", create_path() + "/" + name, body, content_type=kind, ok=(200,))


def round_stale(n):
    if not CREATED:
        return
    name = RNG.choice(sorted(CREATED))
    obj = configmap(name, {"k": "stale"})
    obj["metadata"]["resourceVersion"] = RNG.choice(["1", "2", "abc", "-1", "99999999999"])
    status, _ = check("stale update", "PUT", create_path() + "/" + name, json.dumps(obj), ok=())
    if status is not None and status not in (400, 409, 422):
        fail("stale update", "HTTP %d, want 409 (or 400/422 for a malformed resourceVersion)" % status)


def round_cut(n):
    """A request cut off: headers only, a body shorter than its Content-Length, or garbage."""
    raw = socket.create_connection((URL.hostname, URL.port), timeout=10)
    try:
        s = CTX.wrap_socket(raw, server_hostname=URL.hostname)
        choice = RNG.randrange(3)
        if choice == 0:
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":" % create_path().encode())
        elif choice == 1:
            s.sendall(b"GET %s HTTP/1.1\r\nHo" % create_path().encode())
        else:
            s.sendall(bytes(RNG.randrange(256) for _ in range(200)))
        s.close()
    except (OSError, ssl.SSLError):
        pass  # the server may refuse garbage; what matters is that it lives
    finally:
        raw.close()


ROUND_KINDS = [round_good, round_malformed, round_malformed, round_types, round_nested, round_huge, round_protobuf,
               round_selectors, round_query, round_patch, round_patch, round_stale, round_cut]


def alive():
    try:
        status, data = request("GET", "/healthz")
    except Exception as e:  # noqa: BLE001
        fail("healthz", "no answer: %r" % e)
        return False
    if status != 200:
        fail("healthz", "HTTP %d %r" % (status, data[:100]))
    return status == 200


def main():
    check("namespace", "POST", "/api/v1/namespaces", json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
    for n in range(ROUNDS):
        RNG.choice(ROUND_KINDS)(n)
        if n % 50 == 49 and not alive():
            break
    alive()
    # Nothing half written: the namespace holds exactly the objects whose create answered 201, each whole.
    status, data = request("GET", create_path())
    if status != 200:
        fail("list", "HTTP %d" % status)
    else:
        items = json.loads(data)["items"]
        listed = {i["metadata"]["name"] for i in items}
        if listed != CREATED:
            fail("nothing half written", "listed but not created: %s; created but not listed: %s"
                 % (sorted(listed - CREATED)[:10], sorted(CREATED - listed)[:10]))
        for i in items:
            if not isinstance(i.get("data", {}), dict) or not all(isinstance(v, str) for v in i.get("data", {}).values()):
                fail("whole objects", "%s has data %r" % (i["metadata"]["name"], i.get("data")))
    request("DELETE", "/api/v1/namespaces/" + NS)
    print("fuzz seed %d: %d rounds, %d objects created, %d failures" % (SEED, ROUNDS, len(CREATED), len(FAILURES)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
