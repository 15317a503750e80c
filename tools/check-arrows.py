#!/usr/bin/env python3
"""check-arrows.py - the package's dependency arrows against the architecture's rules.

The rules live in one place: the table between `<!-- arrows:begin -->` and `<!-- arrows:end -->`
in docs/architecture.md, with the columns `| room | folders | may import |`. This script holds no
rule of its own. A target belongs to the room whose folder is the longest prefix of its path;
`may import` lists rooms, `Room:Target` (one target of a room), `Room@folder` (that room, but only
for the files under that folder), `*` (anything) or `—` (nothing).

The targets come from `swift package dump-package` (or a saved dump, `--package-json FILE`), the
imports from every `import` line of every .swift file under each target's path. It prints one line
per violation and exits 1 on:

  arrow:  a declared dependency on a project target that the target's room may not import;
  import: an import of a project target that the file's room (or folder) may not import;
  unused: a declared dependency (project target or product) that no file of the target imports
          (targets without Swift files, such as C targets, are not checked; `--allow-unused
          Target:Dep` exempts one);
  room:   a target whose path is under no room's folder;
  rule:   a `Room:Target` in the table that names no target of that room.

Otherwise it prints `arrows: N targets, M imports checked, 0 violations` (M counts every import
line read) and exits 0. It exits 2 when the table is missing or malformed or the package cannot be
read. From the repository root:

    python3 tools/check-arrows.py [--package-json FILE] [--root DIR] [--allow-unused Target:Dep ...]
"""
import argparse
import json
import os
import re
import subprocess
import sys

RULES = "docs/architecture.md"
TABLE = re.compile(r"^\s*<!-- arrows:begin -->\s*$(.*?)^\s*<!-- arrows:end -->\s*$", re.S | re.M)
IMPORT = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*"  # @testable, @_spi(X), @preconcurrency, ...
    r"(?:(?:public|package|internal|private|fileprivate)\s+)?"
    r"import\s+(?:(?:typealias|struct|class|enum|protocol|let|var|func)\s+)?"
    r"([A-Za-z_]\w*)")  # the module: `import struct Module.Type` gives Module
NOTHING = {"", "—", "–", "-", "none"}


def die(message):
    print(f"check-arrows: {message}", file=sys.stderr)
    sys.exit(2)


def clean(text):
    """A cell or list item without backticks, spaces, a leading ./ or a trailing /."""
    text = text.replace("`", "").strip()
    text = text[2:] if text.startswith("./") else text
    return text.rstrip("/") if len(text) > 1 else text


def read_rules(root):
    """{room: (folders, allowed)}; allowed is "*" or a list of (room, target or None, folder or None)."""
    try:
        with open(os.path.join(root, RULES), encoding="utf-8") as f:
            match = TABLE.search(f.read())
    except OSError as e:
        die(f"cannot read {RULES}: {e.strerror}")
    if not match:
        die(f"{RULES} has no arrows table (between <!-- arrows:begin --> and <!-- arrows:end -->)")
    rules = {}
    for line in match.group(1).splitlines():
        if "|" not in line:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            die(f"{RULES}: an arrows row needs 3 cells (room | folders | may import): {line.strip()}")
        room = clean(cells[0])
        if room.lower() == "room" or re.fullmatch(r"[-: ]+", cells[0]):
            continue  # the header and its separator
        folders = [clean(f) for f in cells[1].split(",") if clean(f)]
        if clean(cells[2]) == "*":
            allowed = "*"
        else:
            allowed = []
            for item in (clean(i) for i in cells[2].split(",")):
                if item.lower() in NOTHING:
                    continue
                item, _, folder = item.partition("@")
                name, _, target = item.partition(":")
                allowed.append((clean(name), clean(target) or None, clean(folder) or None))
        if room in rules:
            die(f"{RULES}: room {room} has two rows")
        rules[room] = (folders, allowed)
    if not rules:
        die(f"{RULES}: the arrows table has no rows")
    for room, (_, allowed) in rules.items():
        for name, _, _ in [] if allowed == "*" else allowed:
            if name not in rules:
                die(f"{RULES}: {room} may import {name}, which is no room of the table")
    return rules


def read_targets(root, package_json):
    try:
        if package_json:
            with open(package_json, encoding="utf-8") as f:
                return json.load(f)["targets"]
        run = subprocess.run(["swift", "package", "dump-package"], cwd=root, capture_output=True, text=True)
        if run.returncode != 0:
            die(f"swift package dump-package failed ({run.returncode}): {run.stderr.strip()}")
        return json.loads(run.stdout)["targets"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die(f"cannot read the package ({package_json or 'swift package dump-package'}): {e}")


def target_path(t):
    return clean(t.get("path") or ("Tests/" if t.get("type") == "test" else "Sources/") + t["name"])


def declared(t, project):
    """[(dependency, module it is imported as, whether it is a target of this package)]."""
    deps = []
    for d in t.get("dependencies", []):
        kind, value = next(iter(d.items()))
        name = value[0]
        if kind == "product":
            aliases = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
            deps.append((name, aliases.get(name, name), False))
        else:  # byName or target
            deps.append((name, name, name in project))
    return deps


def swift_imports(root, path):
    """[(file relative to root, line number, module)] and the number of Swift files under path."""
    found, files = [], 0
    for directory, subdirectories, names in os.walk(os.path.join(root, path)):
        subdirectories.sort()
        for name in sorted(n for n in names if n.endswith(".swift")):
            files += 1
            file = os.path.join(directory, name)
            relative = os.path.relpath(file, root).replace(os.sep, "/")
            with open(file, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    if m := IMPORT.match(line):  # anchored: a `// import X` line does not match
                        found.append((relative, number, m.group(1)))
    return found, files


def under(path, folder):
    return folder in (".", "") or path == folder or path.startswith(folder + "/")


def main():
    parser = argparse.ArgumentParser(description="Check the package's dependency arrows against " + RULES)
    parser.add_argument("--package-json", metavar="FILE", help="a saved `swift package dump-package`")
    parser.add_argument("--root", default=".", help="the repository root (default: the current directory)")
    parser.add_argument("--allow-unused", metavar="TARGET:DEP", action="append", default=[],
                        help="a declared dependency that may go without an import (repeatable)")
    args = parser.parse_args()
    rules = read_rules(args.root)
    targets = read_targets(args.root, args.package_json)
    names = {t["name"] for t in targets}
    violations = []

    room_of = {}  # target -> room
    for t in targets:
        path = target_path(t)
        best = max(((len(f), room) for room, (folders, _) in rules.items() for f in folders if under(path, f)),
                   default=None)
        if best is None:
            violations.append(f"room: {t['name']} at {path} is in no room of {RULES}")
        else:
            room_of[t["name"]] = best[1]

    for room, (_, allowed) in rules.items():
        for name, target, _ in [] if allowed == "*" else allowed:
            if target and room_of.get(target) != name:
                violations.append(f"rule: {room} may import {name}:{target}, but {target} is no target of {name}")

    def why_not(room, dep, file=None):
        """None when room (or, given a file, that file) may import dep; else the end of the message."""
        allowed = rules[room][1]
        if allowed == "*":
            return None
        only = []
        for name, target, folder in allowed:
            if name == room_of[dep] and target in (None, dep):
                if folder is None or file is None or under(file, folder):
                    return None
                only.append(folder)
        if only:
            return f"which only files under {' or '.join(only)} may import"
        return f"which {room} may not import"

    checked = 0
    for t in targets:
        name, room = t["name"], room_of.get(t["name"])
        deps = declared(t, names)
        for dep, _, own in deps:
            if room and own and dep in room_of and (why := why_not(room, dep)):
                violations.append(f"arrow: {name} ({room}) depends on {dep} ({room_of[dep]}), {why}")
        found, files = swift_imports(args.root, target_path(t))
        checked += len(found)
        for file, number, module in found:
            if room and module in room_of and module != name and (why := why_not(room, module, file)):
                violations.append(f"import: {file}:{number} imports {module} ({room_of[module]}), {why}")
        imported = {module for _, _, module in found}
        for dep, module, _ in deps:
            if files and module not in imported and f"{name}:{dep}" not in args.allow_unused:
                violations.append(f"unused: {name} declares {dep} but no file imports it")

    for line in violations:
        print(line)
    if violations:
        sys.exit(1)
    print(f"arrows: {len(targets)} targets, {checked} imports checked, 0 violations")


if __name__ == "__main__":
    main()
