#!/usr/bin/env python3
"""gen-kube-resources.py - the apiserver's table of built-in resources, derived from Kubernetes
1.32's OpenAPI v2 definition (../shared/reference/kubernetes-1.32-openapi-v2.json).

For every resource the apiserver serves (SERVED below: the apiserver issue's list) it reads from
the definition's paths: the kind and group-version (x-kubernetes-group-version-kind), whether it is
namespaced (a path under /namespaces/{namespace}/), its verbs (x-kubernetes-action: post -> create,
put -> update, watch/watchlist -> watch, ...), its subresources with their own kinds and verbs, and
the OpenAPI definition of its objects. What the definition does not hold comes from the tables
below, facts of Kubernetes 1.32 as `kubectl api-resources` and kube-apiserver's storage show them:
short names, categories, and where the store keeps each resource under --etcd-prefix.

It writes Sources/ControlPlane/APIMachinery/Generated/BuiltinResources.swift and, for every
definition reachable from the served kinds, what a strategic merge patch needs of its fields
(BuiltinPatchSchema.swift: nested objects, values replaced whole, lists with their x-kubernetes-patch-strategy,
x-kubernetes-patch-merge-key, x-kubernetes-list-type and x-kubernetes-list-map-keys, maps). Both
are committed; CI never regenerates them. From the repository root:

    python3 tools/gen-kube-resources.py [--reference FILE] [--check]

--check compares instead of writing and exits 1 when the committed file differs.
"""
import argparse
import json
import os
import re
import sys

REFERENCE = os.environ.get("KUBE_OPENAPI_REFERENCE", "../shared/reference/kubernetes-1.32-openapi-v2.json")
OUTPUT = "Sources/ControlPlane/APIMachinery/Generated/BuiltinResources.swift"
PATCH_OUTPUT = "Sources/ControlPlane/APIMachinery/Generated/BuiltinPatchSchema.swift"

# (group, version, plural): the resources the apiserver serves, in discovery order per group.
SERVED = [
    ("", "v1", "namespaces"), ("", "v1", "nodes"), ("", "v1", "pods"), ("", "v1", "services"),
    ("", "v1", "endpoints"), ("", "v1", "events"), ("", "v1", "configmaps"), ("", "v1", "secrets"),
    ("", "v1", "serviceaccounts"), ("", "v1", "replicationcontrollers"), ("", "v1", "podtemplates"),
    ("", "v1", "limitranges"), ("", "v1", "resourcequotas"),
    ("apps", "v1", "deployments"), ("apps", "v1", "replicasets"), ("apps", "v1", "statefulsets"),
    ("apps", "v1", "daemonsets"), ("apps", "v1", "controllerrevisions"),
    ("batch", "v1", "jobs"), ("batch", "v1", "cronjobs"),
    ("coordination.k8s.io", "v1", "leases"),
    ("discovery.k8s.io", "v1", "endpointslices"),
    ("events.k8s.io", "v1", "events"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("scheduling.k8s.io", "v1", "priorityclasses"),
    ("rbac.authorization.k8s.io", "v1", "roles"), ("rbac.authorization.k8s.io", "v1", "clusterroles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"), ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    ("apiregistration.k8s.io", "v1", "apiservices"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
]

# Subresources served. Connect subresources (exec, attach, portforward, proxy) come with the node
# agent; ephemeralcontainers and resize are not built (docs/apiserver.md).
SUBRESOURCES = {"status", "scale", "binding", "eviction", "log", "finalize"}

SHORT_NAMES = {
    ("", "namespaces"): ["ns"], ("", "nodes"): ["no"], ("", "pods"): ["po"], ("", "services"): ["svc"],
    ("", "endpoints"): ["ep"], ("", "events"): ["ev"], ("", "configmaps"): ["cm"],
    ("", "serviceaccounts"): ["sa"], ("", "replicationcontrollers"): ["rc"], ("", "limitranges"): ["limits"],
    ("", "resourcequotas"): ["quota"], ("apps", "deployments"): ["deploy"], ("apps", "replicasets"): ["rs"],
    ("apps", "statefulsets"): ["sts"], ("apps", "daemonsets"): ["ds"], ("batch", "cronjobs"): ["cj"],
    ("events.k8s.io", "events"): ["ev"], ("policy", "poddisruptionbudgets"): ["pdb"],
    ("scheduling.k8s.io", "priorityclasses"): ["pc"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["crd", "crds"],
}

CATEGORIES = {
    ("", "pods"): ["all"], ("", "services"): ["all"], ("", "replicationcontrollers"): ["all"],
    ("apps", "deployments"): ["all"], ("apps", "replicasets"): ["all"], ("apps", "statefulsets"): ["all"],
    ("apps", "daemonsets"): ["all"], ("batch", "jobs"): ["all"], ("batch", "cronjobs"): ["all"],
    ("apiregistration.k8s.io", "apiservices"): ["api-extensions"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["api-extensions"],
}

# Where kube-apiserver keeps a resource under its prefix when it is not the plural itself.
STORAGE = {
    ("", "nodes"): "minions", ("", "services"): "services/specs", ("", "endpoints"): "services/endpoints",
    ("", "replicationcontrollers"): "controllers", ("events.k8s.io", "events"): "events",
    ("apiregistration.k8s.io", "apiservices"): "apiregistration.k8s.io/apiservices",
    ("apiextensions.k8s.io", "customresourcedefinitions"): "apiextensions.k8s.io/customresourcedefinitions",
}

VERBS = {"get": "get", "list": "list", "watch": "watch", "watchlist": "watch", "post": "create", "put": "update",
         "patch": "patch", "delete": "delete", "deletecollection": "deletecollection"}


def prefix(group, version):
    return f"/api/{version}" if group == "" else f"/apis/{group}/{version}"


def operations(paths, path):
    for method, op in paths.get(path, {}).items():
        if method != "parameters":
            yield op


def gvk(op):
    g = op.get("x-kubernetes-group-version-kind")
    return (g["group"], g["version"], g["kind"]) if g else None


def resource(paths, group, version, plural):
    base = prefix(group, version)
    namespaced_path = f"{base}/namespaces/{{namespace}}/{plural}"
    namespaced = namespaced_path in paths
    collection = namespaced_path if namespaced else f"{base}/{plural}"
    item = f"{collection}/{{name}}"
    if collection not in paths or item not in paths:
        sys.exit(f"gen-kube-resources: {group or 'core'}/{version} {plural}: no paths {collection} and {item}")
    verbs, kind, definition = set(), None, None
    for path in (collection, item):
        for op in operations(paths, path):
            action = op.get("x-kubernetes-action")
            if action in VERBS:
                verbs.add(VERBS[action])
            if gvk(op) and kind is None:
                kind = gvk(op)[2]
            ref = op.get("responses", {}).get("200", {}).get("schema", {}).get("$ref", "")
            if path == item and op.get("x-kubernetes-action") == "get":
                definition = ref.rsplit("/", 1)[-1]
    # Watch lives under /watch/ paths in the v2 definition (and ?watch=true on the list).
    watch_path = f"{base}/watch/namespaces/{{namespace}}/{plural}" if namespaced else f"{base}/watch/{plural}"
    if any(op.get("x-kubernetes-action") in ("watch", "watchlist") for op in operations(paths, watch_path)):
        verbs.add("watch")
    if not kind or not definition:
        sys.exit(f"gen-kube-resources: {plural}: no kind or definition found")
    subresources = []
    for sub in sorted(SUBRESOURCES):
        sub_verbs, sub_gvk = set(), None
        for op in operations(paths, f"{item}/{sub}"):
            action = op.get("x-kubernetes-action")
            if action in VERBS:
                sub_verbs.add(VERBS[action])
                sub_gvk = sub_gvk or gvk(op)
        if sub_verbs:
            g, v, k = sub_gvk
            subresources.append({"name": sub, "group": g, "version": v, "kind": k, "verbs": sorted(sub_verbs)})
    return {
        "group": group, "version": version, "kind": kind, "name": plural, "singular": kind.lower(),
        "namespaced": namespaced, "verbs": sorted(verbs), "shortNames": SHORT_NAMES.get((group, plural), []),
        "categories": CATEGORIES.get((group, plural), []), "storage": STORAGE.get((group, plural), plural),
        "definition": definition, "subresources": subresources,
    }


def swift_strings(items):
    return "[" + ", ".join(json.dumps(s) for s in items) + "]"


def render(resources, reference_name):
    out = [
        "// Generated by tools/gen-kube-resources.py from " + reference_name + "; do not edit.",
        "// Regenerate: python3 tools/gen-kube-resources.py",
        "",
        "extension BuiltinResources {",
        "    /// Every built-in resource the apiserver serves, in discovery order.",
        "    package static let all: [ResourceInfo] = [",
    ]
    for r in resources:
        subs = []
        for s in r["subresources"]:
            subs.append(
                f"                Subresource(name: {json.dumps(s['name'])}, group: {json.dumps(s['group'])}, "
                f"version: {json.dumps(s['version'])}, kind: {json.dumps(s['kind'])}, verbs: {swift_strings(s['verbs'])})")
        sub_text = "[]" if not subs else "[\n" + ",\n".join(subs) + "\n            ]"
        out += [
            "        ResourceInfo(",
            f"            group: {json.dumps(r['group'])}, version: {json.dumps(r['version'])}, kind: {json.dumps(r['kind'])}, "
            f"name: {json.dumps(r['name'])}, singularName: {json.dumps(r['singular'])},",
            f"            namespaced: {'true' if r['namespaced'] else 'false'}, verbs: {swift_strings(r['verbs'])},",
            f"            shortNames: {swift_strings(r['shortNames'])}, categories: {swift_strings(r['categories'])},",
            f"            storagePath: {json.dumps(r['storage'])}, definition: {json.dumps(r['definition'])},",
            f"            subresources: {sub_text}),",
        ]
    out[-1] = out[-1][:-1]  # no trailing comma after the last element
    out += ["    ]", "}", ""]
    return "\n".join(out)


def ref_name(schema):
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else None


def object_ref(definitions, schema):
    """The definition an item or value refers to, when it is an object with fields of its own."""
    name = ref_name(schema)
    return name if name and "properties" in definitions.get(name, {}) else None


def patch_fields(definitions, roots):
    """{definition: {field: entry}} for the definitions reachable from roots; entries only for
    fields a strategic merge patch treats specially (objects, lists, maps)."""
    out, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        if name in out or name not in definitions:
            continue
        fields = {}
        for field, schema in sorted(definitions[name].get("properties", {}).items()):
            entry = None
            if ref_name(schema):
                # A definition without properties (Quantity, Time, IntOrString, RawExtension) is a value.
                has_fields = "properties" in definitions.get(ref_name(schema), {})
                entry = {"shape": "object", "ref": ref_name(schema)} if has_fields else {"shape": "value", "ref": None}
            elif schema.get("type") == "array":
                entry = {"shape": "list", "ref": object_ref(definitions, schema.get("items", {}))}
            elif schema.get("type") == "object" and "additionalProperties" in schema:
                entry = {"shape": "map", "ref": object_ref(definitions, schema["additionalProperties"])}
            if entry is None:
                continue
            entry["strategy"] = schema.get("x-kubernetes-patch-strategy")
            entry["mergeKey"] = schema.get("x-kubernetes-patch-merge-key")
            entry["listType"] = schema.get("x-kubernetes-list-type")
            entry["listMapKeys"] = schema.get("x-kubernetes-list-map-keys", [])
            fields[field] = entry
            if entry["ref"]:
                todo.append(entry["ref"])
        out[name] = fields
    return out


def render_patch(tables, reference_name):
    def opt(v):
        return "nil" if v is None else json.dumps(v)
    out = [
        "// Generated by tools/gen-kube-resources.py from " + reference_name + "; do not edit.",
        "// Regenerate: python3 tools/gen-kube-resources.py",
        "",
        "extension PatchSchema {",
        "    /// The fields of every built-in definition that a strategic merge patch treats specially.",
        "    package static let builtin: [String: [String: PatchField]] = [",
    ]
    for name in sorted(tables):
        fields = tables[name]
        if not fields:
            out.append(f"        {json.dumps(name)}: [:],")
            continue
        out.append(f"        {json.dumps(name)}: [")
        for field in sorted(fields):
            e = fields[field]
            out.append(
                f"            {json.dumps(field)}: PatchField(.{e['shape']}, ref: {opt(e['ref'])}, strategy: {opt(e['strategy'])}, "
                f"mergeKey: {opt(e['mergeKey'])}, listType: {opt(e['listType'])}, listMapKeys: {swift_strings(e['listMapKeys'])}),")
        out[-1] = out[-1][:-1]
        out.append("        ],")
    out[-1] = out[-1][:-1]
    out += ["    ]", "}", ""]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    with open(args.reference, encoding="utf-8") as f:
        reference = json.load(f)
    resources = [resource(reference["paths"], g, v, p) for g, v, p in SERVED]
    roots = [r["definition"] for r in resources] + ["io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.policy.v1.Eviction",
                                                     "io.k8s.api.core.v1.Binding"]
    tables = patch_fields(reference["definitions"], roots)
    name = os.path.basename(args.reference)
    outputs = [(OUTPUT, render(resources, name), f"{len(resources)} resources"),
               (PATCH_OUTPUT, render_patch(tables, name), f"{len(tables)} definitions")]
    for path, text, what in outputs:
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                sys.exit(f"gen-kube-resources: {path} differs from what the reference gives; regenerate it")
            print(f"gen-kube-resources: {path} is current ({what})")
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"gen-kube-resources: wrote {path} ({what})")


if __name__ == "__main__":
    main()
