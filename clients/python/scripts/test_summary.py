"""Prints one closing line from a pytest JUnit XML report, like scripts/test-summary.mjs does for vitest:
"<label>: N passed, N failed, N skipped"."""

import sys
import xml.etree.ElementTree as ElementTree

path, label = sys.argv[1], sys.argv[2]
root = ElementTree.parse(path).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
total = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(f"{label}: {total - failed - skipped} passed, {failed} failed, {skipped} skipped")
