#!/usr/bin/env python3
"""gen-kube-openapi.py - the documents the apiserver serves at /openapi/v2 and /openapi/v3, derived
from Kubernetes 1.32's OpenAPI v2 definition (../shared/reference/kubernetes-1.32-openapi-v2.json).

The served resources are tools/gen-kube-resources.py's (its SERVED list and the subresources it
finds for each, read through that script's own functions). For every served group-version it keeps
the definition's paths of those resources (collection, item, the served subresources, the
all-namespaces list and the /watch/ paths) and the group-version's root (/api/v1/,
/apis/<group>/<version>/), and writes what kube-apiserver 1.32 serves:

- v3/<name>.json, one OpenAPI 3.0 document per group-version, as /openapi/v3/api/v1 and
  /openapi/v3/apis/<group>/<version> serve it (name: the path with / as __, api__v1,
  apis__apps__v1), and v3/api.json, v3/apis.json for /openapi/v3/api and /openapi/v3/apis (the
  /api/ and /apis/ group lists). autoscaling/v1 has no document: its Scale, the kind of the
  scale subresources, is among the apps/v1 and core v1 documents' schemas. Converted from v2 as kube-openapi's v3 builder shapes them:
  parameters inlined with their type under `schema`; the body parameter as `requestBody` with one
  entry per `consumes` media type (required when the parameter is); each response with its
  description (OK, Created, Accepted, Unauthorized) and one entry per `produces` media type;
  `schemes`, `consumes`, `produces` dropped. Components hold the definitions reachable from the
  paths, #/definitions/ refs rewritten to #/components/schemas/, a $ref with keys beside it wrapped
  as allOf: [{$ref}], and IntOrString and Quantity as kube's v3 gives them (oneOf, V3_SCHEMAS).
- v3/index.json, the /openapi/v3 discovery document: each document's serverRelativeURL with
  ?hash= the uppercase hex SHA-512 of the document's bytes, as kube-apiserver computes its ETag.
- v2.json, the /openapi/v2 document: the definition cut to the same paths, the parameters they
  use and the definitions reachable from them.

Every file is compact JSON with sorted keys and no trailing newline, so the hashes are stable;
the apiserver serves the bytes as they are. All are committed; CI never regenerates them. From
the repository root:

    python3 tools/gen-kube-openapi.py [--reference FILE] [--check]

--check compares instead of writing and exits 1 naming every file that differs, is missing or is
not generated; without the reference file it says so and exits 0.
"""
import argparse
import hashlib
import http
import importlib.util
import json
import os
import sys

REFERENCE = os.environ.get("KUBE_OPENAPI_REFERENCE", "../shared/reference/kubernetes-1.32-openapi-v2.json")
OUTPUT = "Sources/ControlPlane/APIServer/OpenAPI"
# What /version reports; kube-apiserver puts its gitVersion in both documents' info.
INFO = {"title": "Kubernetes", "version": "v1.32.5"}

# The documents besides the group-versions': their name under /openapi/v3 and their paths. kube
# also lists apis/<group> (/apis/<group>/), version, logs and the OIDC discovery paths; the
# apiserver serves none of those paths yet, so they have no document here.
GROUP_LISTS = {"api": ["/api/"], "apis": ["/apis/"]}

# Definitions kube's v3 documents give differently from v2 (the types' OpenAPIV3OneOfTypes).
V3_SCHEMAS = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"format": "int-or-string",
                                                        "oneOf": [{"type": "integer"}, {"type": "string"}]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}

# The keys of a v2 schema the conversion knows: those holding schemas are converted, the others
# (values, x-kubernetes-* extensions) are copied. Anything else stops the generator.
SCHEMA_MAPS = {"properties"}
SCHEMA_ONE = {"items", "additionalProperties"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}
SCHEMA_VALUES = {"type", "format", "required", "enum", "default", "description", "x-kubernetes-group-version-kind",
                 "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type",
                 "x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key", "x-kubernetes-unions"}
# A non-body parameter: where it is and what it is; the rest moves under `schema` in v3.
PARAMETER_KEYS = {"name", "in", "description", "required"}
PARAMETER_SCHEMA_KEYS = {"type", "format", "uniqueItems", "items", "default", "enum"}
OPERATION_KEYS = {"operationId", "tags", "description", "x-kubernetes-action", "x-kubernetes-group-version-kind"}
OPERATION_DROPPED = {"schemes", "consumes", "produces", "parameters", "responses"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def load_resources_script():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen-kube-resources.py")
    spec = importlib.util.spec_from_file_location("gen_kube_resources", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fail(message):
    sys.exit(f"gen-kube-openapi: {message}")


def served_paths(resources_script, paths):
    """{document name: [path]}: each served group-version's paths, in the definition's order, and
    the group lists'."""
    wanted = {}
    for group, version, plural in resources_script.SERVED:
        info = resources_script.resource(paths, group, version, plural)
        base = resources_script.prefix(group, version)
        scope = f"{base}/namespaces/{{namespace}}" if info["namespaced"] else base
        collection, item = f"{scope}/{plural}", f"{scope}/{plural}/{{name}}"
        required = [base + "/", collection, item] + [f"{item}/{s['name']}" for s in info["subresources"]]
        # The list across all namespaces and the /watch/ forms (kube 1.32 serves them all).
        optional = [f"{base}/{plural}", collection.replace(base, base + "/watch", 1),
                    item.replace(base, base + "/watch", 1), f"{base}/watch/{plural}"]
        for p in required:
            if p not in paths:
                fail(f"no path {p} in the reference")
        wanted.setdefault(base.strip("/"), set()).update(required + [p for p in optional if p in paths])
    for name, lists in GROUP_LISTS.items():
        for p in lists:
            if p not in paths:
                fail(f"no path {p} in the reference")
        wanted[name] = set(lists)
    return {name: [p for p in paths if p in chosen] for name, chosen in wanted.items()}


def refs(value, found):
    """Every definition a value names with a #/definitions/ $ref, anywhere inside it."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref[len("#/definitions/"):])
        for v in value.values():
            refs(v, found)
    elif isinstance(value, list):
        for v in value:
            refs(v, found)
    return found


def reachable(definitions, roots):
    out, todo = set(), sorted(roots)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        if name not in definitions:
            fail(f"no definition {name} in the reference")
        out.add(name)
        todo += sorted(refs(definitions[name], set()) - out)
    return out


def resolve(reference, parameter):
    ref = parameter.get("$ref")
    if ref is None:
        return parameter
    name = ref[len("#/parameters/"):]
    if not ref.startswith("#/parameters/") or name not in reference["parameters"]:
        fail(f"parameter {ref} does not resolve")
    return reference["parameters"][name]


def ref3(ref):
    if not ref.startswith("#/definitions/"):
        fail(f"$ref {ref} is not a definition")
    return "#/components/schemas/" + ref[len("#/definitions/"):]


def schema3(schema):
    """A v2 schema as OpenAPI 3.0 writes it."""
    out = {}
    for key, value in schema.items():
        if key == "$ref":
            continue
        if key in SCHEMA_MAPS:
            out[key] = {name: schema3(s) for name, s in value.items()}
        elif key in SCHEMA_ONE and isinstance(value, dict):
            out[key] = schema3(value)
        elif key in SCHEMA_LISTS:
            out[key] = [schema3(s) for s in value]
        elif key in SCHEMA_VALUES or (key in SCHEMA_ONE and isinstance(value, bool)):
            out[key] = value
        else:
            fail(f"schema key {key} is not known to the conversion")
    if "$ref" in schema:
        ref = {"$ref": ref3(schema["$ref"])}
        if not out:
            return ref
        out["allOf"] = [ref] + out.get("allOf", [])  # OpenAPI 3.0 ignores keys beside a $ref
    return out


def parameter3(parameter):
    unknown = set(parameter) - PARAMETER_KEYS - PARAMETER_SCHEMA_KEYS
    if unknown or parameter["in"] == "body":
        fail(f"parameter {parameter['name']}: cannot convert {sorted(unknown) or 'a body'}")
    out = {k: parameter[k] for k in PARAMETER_KEYS if k in parameter}
    out["schema"] = {k: parameter[k] for k in PARAMETER_SCHEMA_KEYS if k in parameter}
    return out


def response_description(code, response):
    if response.get("description"):
        return response["description"]
    try:
        return http.HTTPStatus(int(code)).phrase
    except ValueError:
        fail(f"response {code} has no description")


def operation3(reference, path, operation):
    unknown = set(operation) - OPERATION_KEYS - OPERATION_DROPPED
    if unknown:
        fail(f"{path}: operation keys {sorted(unknown)} are not known to the conversion")
    out = {k: operation[k] for k in OPERATION_KEYS if k in operation}
    parameters = [resolve(reference, p) for p in operation.get("parameters", [])]
    bodies = [p for p in parameters if p["in"] == "body"]
    others = [parameter3(p) for p in parameters if p["in"] != "body"]
    if others:
        out["parameters"] = others
    if len(bodies) > 1:
        fail(f"{path}: more than one body parameter")
    if bodies:
        if not operation.get("consumes"):
            fail(f"{path}: a body parameter and no consumes")
        body = {"content": {t: {"schema": schema3(bodies[0]["schema"])} for t in operation["consumes"]}}
        if bodies[0].get("required"):
            body["required"] = True
        if bodies[0].get("description"):
            body["description"] = bodies[0]["description"]
        out["requestBody"] = body
    responses = {}
    for code, response in operation["responses"].items():
        converted = {"description": response_description(code, response)}
        if "schema" in response:
            if not operation.get("produces"):
                fail(f"{path}: a response schema and no produces")
            converted["content"] = {t: {"schema": schema3(response["schema"])} for t in operation["produces"]}
        responses[code] = converted
    out["responses"] = responses
    return out


def path3(reference, path):
    item = reference["paths"][path]
    out = {}
    for key, value in item.items():
        if key == "parameters":
            out["parameters"] = [parameter3(resolve(reference, p)) for p in value]
        elif key in METHODS:
            out[key] = operation3(reference, path, value)
        else:
            fail(f"{path}: path key {key} is not known to the conversion")
    return out


def raw_parameters(item):
    """A v2 path item's parameters, its own and its operations', as written (refs unresolved)."""
    return list(item.get("parameters", [])) + [q for k, op in item.items() if k in METHODS for q in op.get("parameters", [])]


def definitions_used(reference, paths):
    """The definitions the paths reach, through their schemas and their parameters' schemas."""
    roots = set()
    for p in paths:
        item = reference["paths"][p]
        refs([item] + [resolve(reference, q) for q in raw_parameters(item)], roots)
    return reachable(reference["definitions"], roots)


def document3(reference, paths):
    converted = {p: path3(reference, p) for p in paths}
    schemas = definitions_used(reference, paths)
    components = {name: V3_SCHEMAS.get(name) or schema3(reference["definitions"][name]) for name in sorted(schemas)}
    security = {name: dict(scheme) for name, scheme in reference["securityDefinitions"].items()}
    return {"openapi": "3.0.0", "info": INFO, "paths": converted,
            "components": {"schemas": components, "securitySchemes": security}}


def path2(item):
    """A v2 path item with the descriptions Swagger 2.0 requires of every response (removed from
    the reference with the other documentation; kube's are the status texts, OK, Unauthorized)."""
    out = {}
    for key, value in item.items():
        if key in METHODS:
            responses = {code: {"description": response_description(code, r), **r} for code, r in value["responses"].items()}
            value = {**value, "responses": responses}
        out[key] = value
    return out


def document2(reference, paths):
    chosen = {p: path2(reference["paths"][p]) for p in paths}
    used = {q["$ref"][len("#/parameters/"):] for item in chosen.values() for q in raw_parameters(item) if "$ref" in q}
    names = definitions_used(reference, paths)
    return {"swagger": reference["swagger"], "info": INFO, "paths": chosen,
            "definitions": {n: reference["definitions"][n] for n in sorted(names)},
            "parameters": {n: reference["parameters"][n] for n in sorted(used)},
            "security": reference["security"], "securityDefinitions": reference["securityDefinitions"]}


def encode(document):
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def generate(reference, resources_script):
    documents = served_paths(resources_script, reference["paths"])
    files, index = {}, {}
    for name, paths in documents.items():
        data = encode(document3(reference, paths))
        files[f"v3/{name.replace('/', '__')}.json"] = data
        index[name] = {"serverRelativeURL": f"/openapi/v3/{name}?hash={hashlib.sha512(data).hexdigest().upper()}"}
    files["v3/index.json"] = encode({"paths": index})
    all_paths = [p for p in reference["paths"] if any(p in paths for paths in documents.values())]
    files["v2.json"] = encode(document2(reference, all_paths))
    return files


def existing(directory):
    out = set()
    for root, _, names in os.walk(directory):
        for n in names:
            out.add(os.path.relpath(os.path.join(root, n), directory).replace(os.sep, "/"))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if not os.path.isfile(args.reference):
        if not args.check:
            fail(f"no {args.reference} here (set KUBE_OPENAPI_REFERENCE or pass --reference)")
        print(f"gen-kube-openapi: no {args.reference} here; skipped, the committed documents are not re-derived")
        return
    with open(args.reference, encoding="utf-8") as f:
        reference = json.load(f)
    files = generate(reference, load_resources_script())
    present = existing(OUTPUT)
    total = sum(len(d) for d in files.values())
    summary = f"{len(files)} files, {total} bytes"
    if args.check:
        problems = []
        for name in sorted(files):
            path = os.path.join(OUTPUT, name)
            if name not in present:
                problems.append(f"{path} is missing")
                continue
            with open(path, "rb") as f:
                if f.read() != files[name]:
                    problems.append(f"{path} differs from what the reference gives")
        problems += [f"{os.path.join(OUTPUT, n)} is not generated" for n in sorted(present - set(files))]
        if problems:
            for p in problems:
                print(f"gen-kube-openapi: {p}", file=sys.stderr)
            sys.exit("gen-kube-openapi: regenerate with python3 tools/gen-kube-openapi.py")
        print(f"gen-kube-openapi: {OUTPUT} is current ({summary})")
        return
    for name in sorted(present - set(files)):
        path = os.path.join(OUTPUT, name)
        if name.endswith(".json"):  # a document no longer served
            os.remove(path)
            print(f"gen-kube-openapi: removed {path}")
        else:
            print(f"gen-kube-openapi: {path} is not generated; --check fails until it goes", file=sys.stderr)
    for name, data in sorted(files.items()):
        path = os.path.join(OUTPUT, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    print(f"gen-kube-openapi: wrote {OUTPUT} ({summary})")


if __name__ == "__main__":
    main()
