#!/usr/bin/env python3
"""Tests of tools/check-arrows.py on small fake repositories: a clean tree passes, and each rule it
enforces fails with exactly the line it promises. Run: python3 tools/check-arrows-test.py"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check-arrows.py")

# Written a little untidily on purpose (spaces, backticks, two folders in a cell, no outer pipes).
TABLE = """# Architecture

Some prose | with a pipe, outside the table.

<!-- arrows:begin -->
| room | folders | may import |
|:---|---|---|
| Base | `Sources/Base` | — |
|  Store  | `Sources/Store`, `Sources/Legacy/Store/` |  Base,Store  |
| Wire | `Sources/Wire` | Base, Store, Wire |
| Tools | `Sources/Tools` | Base, `Wire:Proto`, Tools |
| Testing | `Sources/Testing` | Base, Store, Testing |
Commands | `Sources/app` | Base, Store, Wire, Tools, Testing@`Sources/app/TestSupport/`
| Tests | `Tests` | * |
| Fixtures | `Tests/Fixtures` | Base |
<!-- arrows:end -->
"""


def target(name, path, deps=(), kind="regular"):
    """A target as dump-package writes it; deps are names (byName) or ready dependency objects."""
    return {"name": name, "path": path, "type": kind,
            "dependencies": [d if isinstance(d, dict) else {"byName": [d, None]} for d in deps]}


def named(targets, name):
    return next(t for t in targets if t["name"] == name)


def product(name, package):
    return {"product": [name, package, None, None]}


def clean_tree():
    targets = [
        target("Base", "Sources/Base"),
        target("CLZ4", "Sources/Store/CLZ4", kind="system"),
        target("CShim", "Sources/Store/CShim", ["CLZ4"]),  # C only: its #include is not checked
        target("Raft", "Sources/Store/Raft", ["Base"]),
        target("Storage", "Sources/Legacy/Store/Storage",
               [{"target": ["Raft", None]}, "CLZ4", product("NIOCore", "swift-nio")]),
        target("Proto", "Sources/Wire/Proto", [product("SwiftProtobuf", "swift-protobuf")]),
        target("API", "Sources/Wire/API", ["Raft", "Proto"]),
        target("Bench", "Sources/Tools/Bench", ["Proto"]),
        target("Sim", "Sources/Testing/Sim", ["Raft"]),
        target("app", "Sources/app", ["API", "Bench", "Sim"], "executable"),
        target("RaftTests", None, ["Raft", "Sim"], "test"),  # no path: Tests/RaftTests
    ]
    files = {
        "Sources/Base/Lock.swift": "import Foundation\n\npublic final class Lock {}\n",
        "Sources/Store/CLZ4/module.modulemap": "module CLZ4 [system] { link \"lz4\" }\n",
        "Sources/Store/CShim/shim.c": "#include <lz4.h>\n",
        "Sources/Store/Raft/Node.swift": "import Base\n",
        "Sources/Legacy/Store/Storage/WAL.swift":
            "@preconcurrency import NIOCore\nimport CLZ4\n// import Proto\n  import struct Raft.Entry\n",
        "Sources/Wire/Proto/Messages.pb.swift": "public import SwiftProtobuf\n",
        "Sources/Wire/API/Service.swift": "@_spi(Internal) public import Raft\ninternal import Proto\n",
        "Sources/Tools/Bench/Bench.swift": "import Proto\n",
        "Sources/Testing/Sim/Sim.swift": "import Raft\n",
        "Sources/app/Main.swift": "import API\nimport Bench\n",
        "Sources/app/TestSupport/Simulate.swift": "import Sim\nimport Raft\n",
        "Tests/RaftTests/RaftTests.swift": "@testable import Raft\nimport Sim\nimport XCTest\n",
    }
    return targets, files


class CheckArrowsTests(unittest.TestCase):
    def repo(self, targets, files, table=TABLE):
        work = tempfile.TemporaryDirectory()
        self.addCleanup(work.cleanup)
        root = work.name
        if table is not None:
            files = {**files, "docs/architecture.md": table}
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                f.write(text)
        with open(os.path.join(root, "package.json"), "w", encoding="utf-8") as f:
            json.dump({"name": "fake", "targets": targets}, f)
        return root

    def check(self, root, *options, dump=True, env=None):
        command = [sys.executable, SCRIPT, "--root", root, *options]
        if dump:
            command += ["--package-json", os.path.join(root, "package.json")]
        r = subprocess.run(command, capture_output=True, text=True, env=env)
        return r.returncode, r.stdout.splitlines(), r.stderr

    def assertFails(self, root, expected, *options):
        code, lines, err = self.check(root, *options)
        self.assertEqual((code, lines), (1, expected), err)

    def test_a_clean_tree_passes_with_one_summary_line(self):
        code, lines, err = self.check(self.repo(*clean_tree()))
        self.assertEqual((code, lines, err), (0, ["arrows: 11 targets, 17 imports checked, 0 violations"], ""))

    def test_a_forbidden_declared_dependency(self):
        targets, files = clean_tree()
        named(targets, "Raft")["dependencies"].append({"byName": ["Proto", None]})
        root = self.repo(targets, files)
        arrow = "arrow: Raft (Store) depends on Proto (Wire), which Store may not import"
        self.assertFails(root, [arrow], "--allow-unused", "Raft:Proto")
        self.assertFails(root, [arrow, "unused: Raft declares Proto but no file imports it"])

    def test_a_forbidden_import_names_its_file_and_line(self):
        targets, files = clean_tree()
        files["Sources/Store/Raft/Node.swift"] = "import Base\n\nimport Proto\n"
        self.assertFails(self.repo(targets, files),
                         ["import: Sources/Store/Raft/Node.swift:3 imports Proto (Wire), which Store may not import"])

    def test_one_target_of_a_room_allows_no_other(self):
        targets, files = clean_tree()
        files["Sources/Tools/Bench/Bench.swift"] = "import Proto\npublic import struct API.Service\n"
        self.assertFails(self.repo(targets, files),
                         ["import: Sources/Tools/Bench/Bench.swift:2 imports API (Wire), which Tools may not import"])

    def test_the_longest_folder_wins(self):
        targets, files = clean_tree()
        targets.append(target("Samples", "Tests/Fixtures/Samples", ["Base"]))
        files["Tests/Fixtures/Samples/Samples.swift"] = "import Base\nimport Raft\n"
        self.assertFails(self.repo(targets, files),
                         ["import: Tests/Fixtures/Samples/Samples.swift:2 imports Raft (Store), "
                          "which Fixtures may not import"])

    def test_test_support_only_under_its_folder(self):
        targets, files = clean_tree()
        files["Sources/app/Main.swift"] = "import API\nimport Bench\n@testable import Sim\n"
        self.assertFails(self.repo(targets, files),
                         ["import: Sources/app/Main.swift:3 imports Sim (Testing), "
                          "which only files under Sources/app/TestSupport may import"])

    def test_an_unused_dependency(self):
        targets, files = clean_tree()
        named(targets, "API")["dependencies"].append(product("NIOCore", "swift-nio"))
        root = self.repo(targets, files)
        self.assertFails(root, ["unused: API declares NIOCore but no file imports it"])
        code, lines, _ = self.check(root, "--allow-unused", "API:NIOCore")
        self.assertEqual(code, 0, lines)

    def test_a_target_in_no_room(self):
        targets, files = clean_tree()
        targets.append(target("Stray", "Sources/Stray"))
        files["Sources/Stray/Stray.swift"] = "public let stray = 1\n"
        self.assertFails(self.repo(targets, files),
                         ["room: Stray at Sources/Stray is in no room of docs/architecture.md"])

    def test_a_rule_naming_a_target_the_room_does_not_have(self):
        targets, files = clean_tree()
        table = TABLE.replace("`Wire:Proto`, Tools", "`Wire:Proto`, Wire:Gone, Tools")
        self.assertFails(self.repo(targets, files, table),
                         ["rule: Tools may import Wire:Gone, but Gone is no target of Wire"])

    def test_no_table_or_a_table_naming_no_room_exits_2(self):
        targets, files = clean_tree()
        for table, says in [("# no table\n", "no arrows table"), (None, "cannot read docs/architecture.md"),
                            (TABLE.replace("Base,Store", "Base, Stor"), "Stor, which is no room")]:
            code, lines, err = self.check(self.repo(targets, files, table))
            self.assertEqual((code, lines), (2, []), err)
            self.assertIn(says, err)

    def test_the_package_from_swift_package_dump_package(self):
        root = self.repo(*clean_tree())
        bin = os.path.join(root, "bin")
        os.makedirs(bin)
        with open(os.path.join(bin, "swift"), "w") as f:  # run in the root, as CI runs it
            f.write('#!/bin/sh\n[ "$*" = "package dump-package" ] && exec cat package.json\n'
                    'echo "error: Package.swift is broken" >&2; exit 1\n')
        os.chmod(os.path.join(bin, "swift"), 0o755)
        env = {**os.environ, "PATH": bin + os.pathsep + os.environ.get("PATH", "")}
        code, lines, err = self.check(root, dump=False, env=env)
        self.assertEqual((code, lines), (0, ["arrows: 11 targets, 17 imports checked, 0 violations"]), err)
        os.remove(os.path.join(root, "package.json"))
        code, lines, err = self.check(root, dump=False, env=env)
        self.assertEqual((code, lines), (2, []), err)
        self.assertIn("swift package dump-package failed", err)


if __name__ == "__main__":
    unittest.main()
