#!/usr/bin/env python3
"""gen-kube-types.py - a model of the Go structs behind every built-in kind, derived from the
Kubernetes API sources (k8s.io/api, k8s.io/apimachinery, k8s.io/apiextensions-apiserver,
k8s.io/kube-aggregator at the v0.32 line, newest patch tag present in the mirrors).

kube-apiserver decodes a request body into a Go struct and json.Marshal's that struct, so what
it stores and answers follows the struct: field order, json names, omitempty, inline embedding,
pointer/slice/map/value shape and a handful of types with their own JSON form (metav1.Time,
resource.Quantity, intstr.IntOrString, ...). This script reads, for every struct reachable from
the kinds in Generated/BuiltinResources.swift (and their subresource kinds, and meta/v1
DeleteOptions), the struct from the package's Go files and the message from its
generated.proto, checks the two agree (field numbers, names, wire types, repeated, map entries),
and writes Sources/ControlPlane/APIMachinery/Generated/BuiltinGoTypes.swift: one GoStruct per
struct, one GoField per field, with the json name, omitempty, inline, the Go shape, the Go field
name and type text (what Go's errors print) and the protobuf field number (0: not on the wire).

The mirrors are git directories as the fetch tool leaves them (/work/.mirror/kubernetes+api/repo
and siblings); set KUBE_MIRRORS to another parent folder. From the repository root:

    python3 tools/gen-kube-types.py [--check]

--check regenerates in memory and exits 1 when the committed file differs. Without the mirrors
the script says it skipped and exits 0.
"""
import argparse
import os
import re
import subprocess
import sys

MIRRORS = os.environ.get("KUBE_MIRRORS", "/work/.mirror")
TAG_LINE = "v0.32."
OUTPUT = "Sources/ControlPlane/APIMachinery/Generated/BuiltinGoTypes.swift"
RESOURCES = "Sources/ControlPlane/APIMachinery/Generated/BuiltinResources.swift"

# Go import path prefix -> the mirror holding it (and the folder of that prefix inside it).
REPOS = [
    ("k8s.io/apimachinery/", "kubernetes+apimachinery"),
    ("k8s.io/apiextensions-apiserver/", "kubernetes+apiextensions-apiserver"),
    ("k8s.io/kube-aggregator/", "kubernetes+kube-aggregator"),
    ("k8s.io/api/", "kubernetes+api"),
]

# API group -> Go package of its v1 types (every served kind is a v1 kind).
GROUP_PACKAGES = {
    "": "k8s.io/api/core/v1",
    "apps": "k8s.io/api/apps/v1",
    "autoscaling": "k8s.io/api/autoscaling/v1",
    "batch": "k8s.io/api/batch/v1",
    "coordination.k8s.io": "k8s.io/api/coordination/v1",
    "discovery.k8s.io": "k8s.io/api/discovery/v1",
    "events.k8s.io": "k8s.io/api/events/v1",
    "policy": "k8s.io/api/policy/v1",
    "scheduling.k8s.io": "k8s.io/api/scheduling/v1",
    "rbac.authorization.k8s.io": "k8s.io/api/rbac/v1",
    "apiextensions.k8s.io": "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1",
    "apiregistration.k8s.io": "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1",
}
META = "k8s.io/apimachinery/pkg/apis/meta/v1"
APIEXT = "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

# Kinds metav1.AddToGroupVersion registers in every group-version; DeleteOptions is the one sent
# as a request body (DELETE, and inside policy/v1 Eviction).
OPTION_KINDS = ["DeleteOptions"]

# Types with their own JSON (MarshalJSON) and protobuf (hand-written Unmarshal) forms: leaves of
# the model, handled by name in the decoder.
SPECIALS = {
    (META, "Time"): "time",
    (META, "MicroTime"): "microTime",
    (META, "Duration"): "duration",
    (META, "FieldsV1"): "fieldsV1",
    ("k8s.io/apimachinery/pkg/util/intstr", "IntOrString"): "intOrString",
    ("k8s.io/apimachinery/pkg/api/resource", "Quantity"): "quantity",
    ("k8s.io/apimachinery/pkg/runtime", "RawExtension"): "rawExtension",
    (APIEXT, "JSON"): "extensionJSON",
}

# Structs decoded field by field but with a MarshalJSON of their own (apiextensions v1 marshal.go).
CUSTOM_JSON = {
    (APIEXT, "JSONSchemaPropsOrArray"): "schemaOrArray",
    (APIEXT, "JSONSchemaPropsOrBool"): "schemaOrBool",
    (APIEXT, "JSONSchemaPropsOrStringArray"): "schemaOrStringArray",
}

GO_SCALARS = {"string": "string", "bool": "bool", "int32": "int32", "int64": "int64", "float64": "float64",
              "int": "int64"}
# One-letter codes of the scalars in the table (see GoTypes.swift's table format).
SCALAR_CODES = {"string": "s", "bool": "b", "int32": "i", "int64": "l", "float64": "f", "bytes": "y"}
PROTO_SCALARS = {"string": "string", "bool": "bool", "int32": "int32", "int64": "int64", "float64": "double",
                 "bytes": "bytes"}


class GenError(Exception):
    """A fact the sources do not bear out; the generator stops rather than guess."""


def git(gitdir, *args):
    return subprocess.run(["git", "-C", gitdir, *args], check=True, capture_output=True).stdout.decode()


def newest_tag(gitdir):
    tags = [t for t in git(gitdir, "tag").split() if t.startswith(TAG_LINE) and re.fullmatch(r"v0\.32\.\d+", t)]
    if not tags:
        raise GenError(f"{gitdir}: no {TAG_LINE}x tag")
    return max(tags, key=lambda t: int(t.rsplit(".", 1)[1]))


class Sources:
    """The mirrors at their newest v0.32 tag, and the Go packages read from them so far."""

    def __init__(self):
        self.repos = {}
        for prefix, name in REPOS:
            gitdir = os.path.join(MIRRORS, name, "repo")
            self.repos[prefix] = (gitdir, newest_tag(gitdir))
        self.packages = {}

    @staticmethod
    def available():
        return all(os.path.isdir(os.path.join(MIRRORS, name, "repo")) for _, name in REPOS)

    def locate(self, path):
        for prefix, (gitdir, tag) in self.repos.items():
            if path.startswith(prefix):
                return gitdir, tag, path[len(prefix):]
        raise GenError(f"no mirror holds Go package {path}")

    def package(self, path):
        if path not in self.packages:
            self.packages[path] = Package(self, path)
        return self.packages[path]

    def versions(self):
        return ", ".join(f"{p.rstrip('/')} {tag}" for p, (_, tag) in sorted(self.repos.items()))


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)//.*$", "", line) for line in text.split("\n"))


class Package:
    """One Go package: its type declarations (from every non-test, non-generated .go file), the
    import names each file uses, and the messages of its generated.proto."""

    def __init__(self, sources, path):
        self.path = path
        self.name = path.rsplit("/", 1)[1]
        gitdir, tag, folder = sources.locate(path)
        self.types = {}  # name -> (kind, body, imports); kind is "struct" or "type"
        files = git(gitdir, "ls-tree", "--name-only", tag, folder + "/").split()
        for f in files:
            base = f.rsplit("/", 1)[1]
            if not base.endswith(".go") or base.endswith("_test.go") or base.startswith("zz_generated") \
                    or base.endswith(".pb.go") or base.endswith("_fuzz.go"):
                continue
            self.read_go(strip_comments(git(gitdir, "show", f"{tag}:{f}")))
        self.messages = {}
        if folder + "/generated.proto" in files:
            self.read_proto(git(gitdir, "show", f"{tag}:{folder}/generated.proto"))

    def read_go(self, text):
        imports = {}
        blocks = re.findall(r"^import \((.*?)^\)", text, flags=re.S | re.M)
        blocks += re.findall(r"^import (.*)$", text, flags=re.M)
        for m in re.finditer(r'^\s*(\w+\s+)?"([\w./-]+)"\s*$', "\n".join(blocks), flags=re.M):
            path = m.group(2)
            alias = (m.group(1) or "").strip() or path.rsplit("/", 1)[-1]
            imports[alias] = path
        lines = text.split("\n")
        i = 0
        in_group = False
        while i < len(lines):
            line = lines[i]
            if re.match(r"^type\s*\($", line):
                in_group = True
            elif in_group and line.startswith(")"):
                in_group = False
            m = re.match(r"^(?:type\s+|\t)(\w+)\s+struct\s*\{\}\s*$", line) if (line.startswith("type") or in_group) else None
            if m:
                self.types[m.group(1)] = ("struct", [], imports)
                i += 1
                continue
            m = re.match(r"^(?:type\s+|\t)(\w+)\s+struct\s*\{\s*$", line) if (line.startswith("type") or in_group) else None
            if m:
                body = []
                i += 1
                while not re.match(r"^\t?\}", lines[i]):
                    body.append(lines[i])
                    i += 1
                self.types[m.group(1)] = ("struct", body, imports)
            else:
                m = re.match(r"^(?:type\s+|\t)(\w+)\s+(=\s*)?([\w.\[\]*]+)\s*$", line) \
                    if (line.startswith("type") or in_group) else None
                if m and m.group(3) not in ("struct", "interface"):
                    self.types[m.group(1)] = ("type", m.group(3), imports)
            i += 1

    def read_proto(self, text):
        text = strip_comments(text)
        for m in re.finditer(r"^message (\w+) \{(.*?)^\}", text, flags=re.S | re.M):
            fields = {}
            for f in re.finditer(r"^\s*(optional|repeated)?\s*(map<\s*string,\s*([\w.]+)>|[\w.]+)\s+(\w+)\s*=\s*(\d+)",
                                 m.group(2), flags=re.M):
                label, type_, map_value, name, number = f.groups()
                fields[int(number)] = {
                    "name": name, "repeated": label == "repeated", "map": map_value,
                    "type": None if map_value else type_,
                }
            self.messages[m.group(1)] = fields


def split_type(expr):
    """A Go type expression as (modifier, rest): '*', '[]', 'map' (with key) or a name."""
    if expr.startswith("*"):
        return "*", expr[1:]
    if expr.startswith("[]"):
        return "[]", expr[2:]
    if expr.startswith("map["):
        depth, j = 0, 3
        while True:
            depth += {"[": 1, "]": -1}.get(expr[j], 0)
            if depth == 0:
                break
            j += 1
        return "map", (expr[4:j], expr[j + 1:])
    return "name", expr


def parse_tag(tag):
    return dict(re.findall(r'(\w+):"([^"]*)"', tag or ""))


class Model:
    """The reachable structs, in the order they were first reached, and the Go shapes of their
    fields rendered as Swift."""

    def __init__(self, sources):
        self.sources = sources
        self.structs = []  # dicts: key, name, goName, custom, fields
        self.index = {}

    def definition_name(self, pkg, name):
        """The OpenAPI definition name of a Go type (io.k8s.api.core.v1.Pod, io.k8s.apimachinery....)."""
        host, rest = pkg.path.split("/", 1)
        return "io.k8s." + rest.replace("/", ".") + "." + name if host == "k8s.io" else pkg.path + "." + name

    def resolve(self, pkg, imports, ident):
        """(package, type name) of an identifier as written in pkg's file with `imports`."""
        if "." in ident:
            alias, name = ident.split(".", 1)
            if alias not in imports:
                raise GenError(f"{pkg.path}: unknown import {alias} in {ident}")
            return self.sources.package(imports[alias]), name
        return pkg, ident

    def struct_ref(self, pkg, name):
        key = (pkg.path, name)
        if key not in self.index:
            if name not in pkg.types or pkg.types[name][0] != "struct":
                raise GenError(f"{pkg.path}: no struct {name}")
            self.index[key] = len(self.structs)
            entry = {"key": key, "name": self.definition_name(pkg, name), "goName": name,
                     "custom": CUSTOM_JSON.get(key), "fields": None}
            self.structs.append(entry)
            entry["fields"] = self.fields(pkg, name)
        return self.index[key]

    def shape(self, pkg, imports, expr):
        """The Go shape of a type expression: (swift text, proto expectation, Go type text)."""
        kind, rest = split_type(expr)
        if kind == "*":
            s, p, t = self.shape(pkg, imports, rest)
            return "*" + s, p, "*" + t
        if kind == "[]":
            if rest in ("byte", "uint8"):
                return "y", ("scalar", "bytes"), "[]byte"
            s, p, t = self.shape(pkg, imports, rest)
            if p[0] in ("repeated", "map"):
                raise GenError(f"{pkg.path}: nested collection {expr}")
            return "[" + s, ("repeated", p), "[]" + t
        if kind == "map":
            key, value = rest
            ks, kp, kt = self.shape(pkg, imports, key)
            if ks != "s":
                raise GenError(f"{pkg.path}: map key {key} is not a string")
            s, p, t = self.shape(pkg, imports, value)
            if p[0] in ("repeated", "map"):
                raise GenError(f"{pkg.path}: nested collection {expr}")
            return "{" + s, ("map", p), f"map[{kt}]{t}"
        if rest in GO_SCALARS:
            return SCALAR_CODES[GO_SCALARS[rest]], ("scalar", PROTO_SCALARS[GO_SCALARS[rest]]), rest
        target, name = self.resolve(pkg, imports, rest)
        text = f"{target.name}.{name}"
        if (target.path, name) in SPECIALS:
            return "@" + SPECIALS[(target.path, name)], ("message", target, name), text
        if name not in target.types:
            raise GenError(f"{target.path}: no type {name}")
        decl, body, decl_imports = target.types[name]
        if decl == "struct":
            return f"#{self.struct_ref(target, name)}", ("message", target, name), text
        s, p, _ = self.shape(target, decl_imports, body)
        return s, p, text

    def fields(self, pkg, name):
        _, body, imports = pkg.types[name]
        message = pkg.messages.get(name)
        out = []
        for line in body:
            line = line.strip()
            if not line:
                continue
            m = re.match(r"^(\w+)\s+([\w.\[\]*]+)\s*(`[^`]*`)?$", line)
            embedded = None
            if m:
                go_name, type_expr, tag = m.groups()
            else:
                e = re.match(r"^(\*?[\w.]+)\s*(`[^`]*`)?$", line)
                if not e:
                    raise GenError(f"{pkg.path}.{name}: cannot read field line {line!r}")
                type_expr, tag = e.groups()
                go_name = type_expr.lstrip("*").rsplit(".", 1)[-1]
                embedded = True
            if not go_name[0].isupper():
                continue
            tags = parse_tag(tag)
            json_tag = tags.get("json")
            if json_tag == "-":
                continue
            parts = (json_tag or "").split(",")
            json_name, options = parts[0], parts[1:]
            inline = bool(embedded) and json_name == ""
            if not inline and json_name == "":
                json_name = go_name
            swift, proto, go_type = self.shape(pkg, imports, type_expr)
            number = 0
            if "protobuf" in tags and tags["protobuf"] != "-":
                ptag = tags["protobuf"].split(",")
                number = int(ptag[1])
                pname = next((p[5:] for p in ptag if p.startswith("name=")), None)
                self.check_proto(pkg, name, go_name, message, number, pname, proto)
            if inline and not swift.startswith("#"):
                raise GenError(f"{pkg.path}.{name}: inline field {go_name} is not a struct")
            out.append({"json": json_name, "goName": go_name, "goType": go_type, "shape": swift, "number": number,
                        "omitEmpty": "omitempty" in options, "inline": inline})
        if message is not None:
            known = {f["number"] for f in out}
            missing = [n for n in message if n not in known]
            if missing:
                raise GenError(f"{pkg.path}.{name}: proto fields {missing} have no Go field")
        return out

    def check_proto(self, pkg, struct, go_name, message, number, pname, expect):
        """Fails unless the proto message has field `number` named `pname` of the Go shape's wire form."""
        where = f"{pkg.path}.{struct}.{go_name}"
        if message is None:
            raise GenError(f"{where}: no message {struct} in generated.proto")
        field = message.get(number)
        if field is None or (pname is not None and field["name"] != pname):
            raise GenError(f"{where}: proto field {number} is {field and field['name']}, Go tag says {pname}")
        repeated = expect[0] == "repeated"
        if expect[0] == "map":
            if not field["map"]:
                raise GenError(f"{where}: Go map, proto field is not a map")
            self.check_type(where, field["map"], expect[1])
            return
        if field["map"] or field["repeated"] != repeated:
            raise GenError(f"{where}: repeated/map differs between Go and proto")
        self.check_type(where, field["type"], expect[1] if repeated else expect)

    def check_type(self, where, proto_type, expect):
        if expect[0] == "scalar":
            if proto_type != expect[1]:
                raise GenError(f"{where}: proto type {proto_type}, Go wants {expect[1]}")
            return
        _, target, name = expect
        qualified = proto_type if "." in proto_type else None
        if qualified:
            if not qualified.lstrip(".").endswith("." + name):
                raise GenError(f"{where}: proto type {proto_type}, Go wants {target.path}.{name}")
        elif proto_type != name:
            raise GenError(f"{where}: proto type {proto_type}, Go wants {name}")


def served_kinds(resources_text):
    """(group, version, kind) of every served kind and subresource kind, in first-seen order."""
    seen = []
    for m in re.finditer(r'group: "([^"]*)", version: "([^"]*)", kind: "([^"]*)"', resources_text):
        if m.groups() not in seen:
            seen.append(m.groups())
    return seen


def swift_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(model, kinds, versions):
    """The Swift file: the struct table in GoTypes' text format and the kind index."""
    table = []
    for i, s in enumerate(model.structs):
        table.append(f"={s['name']} {s['goName']}" + (f" {s['custom']}" if s["custom"] else ""))
        for f in s["fields"]:
            flags = ("o" if f["omitEmpty"] else "") + ("i" if f["inline"] else "")
            table.append(f" {f['json'] or '~'} {f['number']} {f['shape']} {flags or '-'} {f['goName']} {f['goType']}")
    for line in table:
        if '"""' in line or "\\" in line:
            raise GenError(f"table line cannot be written in a Swift raw string: {line}")
    out = [
        "// Generated by tools/gen-kube-types.py from " + versions + "; do not edit.",
        "// Regenerate: python3 tools/gen-kube-types.py",
        "",
        "extension GoTypes {",
        f"    /// Every Go struct reachable from the built-in kinds ({len(model.structs)} structs), in GoTypes' table format;",
        "    /// `GoShape.structure(i)` is the i-th `=` line.",
        '    static let builtinTable = #"""',
    ]
    out += ["        " + line for line in table]
    out += [
        '        """#',
        "",
        "    /// The struct of each built-in kind by `apiVersion/kind` (`v1/Pod`, `apps/v1/Deployment`); meta/v1",
        "    /// DeleteOptions is registered in every served group-version and in `meta.k8s.io/v1`.",
        "    package static let builtinKinds: [String: Int] = [",
    ]
    for key, idx in kinds:
        out.append(f"        {swift_string(key)}: {idx},")
    out += ["    ]", "}", ""]
    return "\n".join(out)


def generate():
    with open(RESOURCES) as f:
        served = served_kinds(f.read())
    sources = Sources()
    model = Model(sources)
    kinds = []
    group_versions = []
    for group, version, kind in served:
        pkg = sources.package(GROUP_PACKAGES[group])
        api_version = f"{group}/{version}" if group else version
        kinds.append((f"{api_version}/{kind}", model.struct_ref(pkg, kind)))
        if api_version not in group_versions:
            group_versions.append(api_version)
    meta = sources.package(META)
    for kind in OPTION_KINDS:
        idx = model.struct_ref(meta, kind)
        for gv in group_versions + ["meta.k8s.io/v1"]:
            kinds.append((f"{gv}/{kind}", idx))
    return render(model, kinds, sources.versions())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args()
    if not Sources.available():
        print(f"gen-kube-types: skipped, no Kubernetes mirrors under {MIRRORS}")
        return 0
    try:
        text = generate()
    except GenError as error:
        print(f"gen-kube-types: {error}", file=sys.stderr)
        return 1
    if args.check:
        try:
            with open(OUTPUT) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"gen-kube-types: {OUTPUT} is out of date; run python3 tools/gen-kube-types.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
