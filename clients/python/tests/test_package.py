"""The package as installed: clients/test.sh runs these tests with the built
wheel installed in a venv (SESSIOND_PY_INSTALLED=1), never the source tree."""

from __future__ import annotations

import os
import re
import unittest

import sessiond
from tests.harness import REPO


class Package(unittest.TestCase):
    def test_installed_from_the_wheel_when_asked(self):
        if os.environ.get("SESSIOND_PY_INSTALLED") != "1":
            self.skipTest("running on the source tree (clients/test.sh runs the installed wheel)")
        here = os.path.realpath(sessiond.__file__)
        self.assertNotIn(os.path.realpath(REPO) + os.sep, here, "sessiond was imported from the checkout")
        self.assertIn("site-packages", here)
        from importlib.metadata import version
        self.assertEqual(version("sessiond"), sessiond.__version__)

    def test_the_changelog_describes_this_version(self):
        with open(os.path.join(REPO, "clients", "python", "CHANGELOG.md"), encoding="utf-8") as f:
            first = re.search(r"^## (\S+)", f.read(), re.M).group(1)
        self.assertEqual(first, sessiond.__version__)

    def test_the_sync_client_needs_no_dependency(self):
        import sessiond.client as c
        with open(c.__file__, encoding="utf-8") as f:
            imports = set(re.findall(r"^(?:from|import) (\w+)", f.read(), re.M))
        self.assertLessEqual(imports, {"__future__", "http", "json", "re", "socket", "ssl", "threading", "time", "urllib",
                                       "dataclasses", "datetime", "typing"})

    def test_timestamps_as_sessiond_writes_them(self):
        from datetime import datetime, timezone
        from sessiond.client import parse_time
        want = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=timezone.utc)
        for s in ("2026-11-22T10:00:00.123456789Z", "2026-11-22T10:00:00.123456Z", "2026-11-22T12:00:00.1234567+02:00"):
            self.assertEqual(parse_time(s), want, s)
        self.assertEqual(parse_time("2026-11-22T10:00:00Z"), want.replace(microsecond=0))
        self.assertIsNone(parse_time(""))
        with self.assertRaises(ValueError):
            parse_time("2026-11-22 10:00")


if __name__ == "__main__":
    unittest.main()
