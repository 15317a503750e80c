#!/usr/bin/env python3
"""check-arrows.py - the package's dependency arrows against the architecture's rules.

The rules live in one place: the table between `<!-- arrows:begin -->` and `<!-- arrows:end -->`
in docs/architecture.md (room, folders, what it may import). This script holds none of its own.
It reads the targets from `swift package dump-package` (or `--package-json FILE`) and every
`import` line of every target's Swift files, and fails (exit 1, one line per violation) on:

- a declared dependency on a project target the importing room may not import (`arrow:`);
- an import of such a target, with file and line (`import:`), including `Room@folder` rules
  (that room only for files under that folder);
- a declared dependency that no file of the target imports (`unused:`);
- a target under no room's folder (`room:`).

Exit 2 when the table is missing or the package cannot be read. Usage, from the repository root:
    python3 tools/check-arrows.py [--package-json FILE] [--root DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys

IMPORT = re.compile(r'^\s*(?:@testable\s+|@_spi\(\w+\)\s+)*(?:(?:public|package|internal|private|fileprivate)\s+)?'
                    r'import\s+(?:(?:struct|class|enum|protocol|typealias|func|var|let)\s+)?([A-Za-z_][A-Za-z0-9_]*)')


def fail(message):
    print(f"check-arrows: {message}", file=sys.stderr)
    sys.exit(2)


def read_rules(root):
    """[(room, [folders], allowed)] where allowed is a list of (room, target or None, folder or None) or '*'."""
    path = os.path.join(root, "docs", "architecture.md")
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        fail(f"cannot read {path}: {e}")
    match = re.search(r"<!-- arrows:begin -->(.*?)<!-- arrows:end -->", text, re.S)
    if not match:
        fail(f"{path} has no arrows table (<!-- arrows:begin --> ... <!-- arrows:end -->)")
    rules = []
    for line in match.group(1).strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("room", "") or set(cells[0]) <= set("-: "):
            continue
        room = cells[0].strip("`")
        folders = [f.strip().strip("`").rstrip("/") for f in cells[1].split(",") if f.strip()]
        allowed = []
        if cells[2].strip() == "*":
            allowed = "*"
        else:
            for item in cells[2].split(","):
                item = item.strip()
                if not item or item in ("—", "-"):
                    continue
                folder = None
                if "@" in item:
                    item, folder = item.split("@", 1)
                    folder = folder.strip().strip("`").rstrip("/")
                target = None
                if ":" in item:
                    item, target = item.split(":", 1)
                allowed.append((item.strip(), target and target.strip(), folder))
        rules.append((room, folders, allowed))
    if not rules:
        fail(f"the arrows table in {path} has no rows")
    return rules


def read_package(root, package_json):
    if package_json:
        with open(package_json, encoding="utf-8") as f:
            return json.load(f)
    try:
        out = subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"swift package dump-package failed: {getattr(e, 'stderr', '') or e}")
    return json.loads(out)


def target_path(t):
    if t.get("path"):
        return t["path"].rstrip("/")
    return ("Tests/" if t["type"] == "test" else "Sources/") + t["name"]


def dependency_names(t, project):
    """(project target names, external module names) that a target declares."""
    own, external = [], []
    for d in t.get("dependencies", []):
        if "byName" in d:
            name = d["byName"][0]
        elif "target" in d:
            name = d["target"][0]
        elif "product" in d:
            external.append(d["product"][0])
            continue
        else:
            continue
        (own if name in project else external).append(name)
    return own, external


def imports(root, path):
    """[(file, line number, module)] for every Swift file under path."""
    found = []
    for directory, _, files in os.walk(os.path.join(root, path)):
        for name in sorted(files):
            if not name.endswith(".swift"):
                continue
            file = os.path.join(directory, name)
            rel = os.path.relpath(file, root)
            with open(file, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    if line.lstrip().startswith("//"):
                        continue
                    m = IMPORT.match(line)
                    if m:
                        found.append((rel, number, m.group(1)))
    return found


def under(path, folder):
    return path == folder or path.startswith(folder + "/")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-json")
    parser.add_argument("--root", default=".")
    args = parser.parse_args()
    rules = read_rules(args.root)
    package = read_package(args.root, args.package_json)
    targets = {t["name"]: t for t in package["targets"]}
    violations = []

    def room_of(path):
        best = None
        for room, folders, allowed in rules:
            for folder in folders:
                if under(path, folder) and (best is None or len(folder) > len(best[0])):
                    best = (folder, room, allowed)
        return best

    rooms = {}
    for name, t in targets.items():
        found = room_of(target_path(t))
        if found is None:
            violations.append(f"room: {name} at {target_path(t)} is in no room of docs/architecture.md")
        else:
            rooms[name] = found

    def verdict(importer, dep, file=None):
        """None when allowed, else why not."""
        _, room, allowed = rooms[importer]
        dep_room = rooms[dep][1]
        if allowed == "*":
            return None
        folder_only = None
        for a_room, a_target, a_folder in allowed:
            if a_room == dep_room and (a_target is None or a_target == dep):
                if a_folder is None:
                    return None
                if file is None or under(file, a_folder):
                    return None
                folder_only = a_folder
        if folder_only:
            return f"which only files under {folder_only} may import"
        return f"which {room} may not import"

    checked = 0
    for name, t in sorted(targets.items()):
        if name not in rooms or t["type"] == "system":
            continue
        own, external = dependency_names(t, targets)
        for dep in own:
            if dep in rooms and (why := verdict(name, dep)) and not why.startswith("which only"):
                violations.append(f"arrow: {name} ({rooms[name][1]}) depends on {dep} ({rooms[dep][1]}), {why}")
        found = imports(args.root, target_path(t))
        used = set()
        for file, number, module in found:
            used.add(module)
            if module in targets and module != name and module in rooms:
                checked += 1
                if why := verdict(name, module, file):
                    violations.append(f"import: {file}:{number} imports {module} ({rooms[module][1]}), {why}")
        for dep in own + external:
            if dep not in used and targets.get(dep, {}).get("type") != "system":
                violations.append(f"unused: {name} declares {dep} but no file imports it")

    for v in violations:
        print(v)
    if violations:
        sys.exit(1)
    print(f"arrows: {len(targets)} targets, {checked} imports checked, 0 violations")


if __name__ == "__main__":
    main()
