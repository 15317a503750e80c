#!/usr/bin/env python3
"""Tests of check-arrows.py on small fake repositories: each rule it enforces fails as it says."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check-arrows.py")

TABLE = """# Architecture

<!-- arrows:begin -->
| room | folders | may import |
|---|---|---|
| Base | `Sources/Base` | — |
| Store | `Sources/Store` | Base, Store |
| Wire | `Sources/Wire` | Base, Store, Wire |
| Tools | `Sources/Tools` | Base, Wire:Proto |
| Testing | `Sources/Testing` | Base, Store |
| Commands | `Sources/app` | Base, Store, Wire, Testing@`Sources/app/TestSupport` |
| Tests | `Tests` | * |
<!-- arrows:end -->
"""


def target(name, path, deps=(), kind="regular"):
    return {"name": name, "path": path, "type": kind, "dependencies": [{"byName": [d, None]} for d in deps]}


class CheckArrowsTests(unittest.TestCase):
    def repo(self, targets, files, table=TABLE):
        root = tempfile.mkdtemp()
        os.makedirs(os.path.join(root, "docs"))
        if table is not None:
            with open(os.path.join(root, "docs", "architecture.md"), "w") as f:
                f.write(table)
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        with open(os.path.join(root, "package.json"), "w") as f:
            json.dump({"targets": targets}, f)
        return root

    def run_script(self, root):
        r = subprocess.run([sys.executable, SCRIPT, "--root", root, "--package-json", os.path.join(root, "package.json")],
                           capture_output=True, text=True)
        return r.returncode, r.stdout.strip().splitlines()

    def clean(self):
        targets = [
            target("Base", "Sources/Base"),
            target("Raft", "Sources/Store/Raft", ["Base"]),
            target("Proto", "Sources/Wire/Proto"),
            target("API", "Sources/Wire/API", ["Raft", "Proto"]),
            target("Sim", "Sources/Testing/Sim", ["Raft"]),
            target("app", "Sources/app", ["API", "Sim"], "executable"),
            target("RaftTests", "Tests/RaftTests", ["Raft", "Sim"], "test"),
        ]
        files = {
            "Sources/Base/Lock.swift": "public final class Lock {}\n",
            "Sources/Store/Raft/Node.swift": "import Base\n",
            "Sources/Wire/Proto/Messages.swift": "// generated\n",
            "Sources/Wire/API/Service.swift": "public import Raft\nimport Proto\n",
            "Sources/Testing/Sim/Sim.swift": "import Raft\n",
            "Sources/app/Main.swift": "import API\n",
            "Sources/app/TestSupport/Simulate.swift": "import Sim\n",
            "Tests/RaftTests/RaftTests.swift": "@testable import Raft\nimport Sim\n",
        }
        return targets, files

    def test_a_clean_tree_passes(self):
        code, lines = self.run_script(self.repo(*self.clean()))
        self.assertEqual(code, 0, lines)
        self.assertEqual(lines, ["arrows: 7 targets, 8 imports checked, 0 violations"])

    def test_a_forbidden_dependency_and_its_import(self):
        targets, files = self.clean()
        targets[1]["dependencies"].append({"byName": ["Proto", None]})
        files["Sources/Store/Raft/Node.swift"] = "import Base\n\nimport Proto\n"
        code, lines = self.run_script(self.repo(targets, files))
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["arrow: Raft (Store) depends on Proto (Wire), which Store may not import",
                                 "import: Sources/Store/Raft/Node.swift:3 imports Proto (Wire), which Store may not import"])

    def test_one_target_of_a_room_only(self):
        targets, files = self.clean()
        targets.append(target("Bench", "Sources/Tools/Bench", ["Proto", "API"]))
        files["Sources/Tools/Bench/Bench.swift"] = "import Proto\nimport API\n"
        code, lines = self.run_script(self.repo(targets, files))
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["arrow: Bench (Tools) depends on API (Wire), which Tools may not import",
                                 "import: Sources/Tools/Bench/Bench.swift:2 imports API (Wire), which Tools may not import"])

    def test_test_support_outside_its_folder(self):
        targets, files = self.clean()
        files["Sources/app/Main.swift"] = "import API\nimport Sim\n"
        code, lines = self.run_script(self.repo(targets, files))
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["import: Sources/app/Main.swift:2 imports Sim (Testing), "
                                 "which only files under Sources/app/TestSupport may import"])

    def test_an_unused_dependency(self):
        targets, files = self.clean()
        targets[3]["dependencies"].append({"product": ["NIOCore", "swift-nio", None, None]})
        code, lines = self.run_script(self.repo(targets, files))
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["unused: API declares NIOCore but no file imports it"])

    def test_a_target_in_no_room(self):
        targets, files = self.clean()
        targets.append(target("Stray", "Sources/Stray"))
        files["Sources/Stray/Stray.swift"] = "\n"
        code, lines = self.run_script(self.repo(targets, files))
        self.assertEqual(code, 1)
        self.assertEqual(lines, ["room: Stray at Sources/Stray is in no room of docs/architecture.md"])

    def test_no_table_is_an_error_of_its_own(self):
        targets, files = self.clean()
        code, _ = self.run_script(self.repo(targets, files, table="# no table\n"))
        self.assertEqual(code, 2)


if __name__ == "__main__":
    unittest.main()
