#!/usr/bin/env python3
"""Fails (exit 1) when a ctest JUnit report (ctest --output-junit) lists a test that did not
run, unless its output names a reason the machine cannot provide with the marker
"[machine cannot provide]". Used by scripts/test when CI=true: a skip there hides a test that
should have run (a tool scripts/deps installs, a limit scripts/test raises).

    check_skips.py REPORT.xml [--warn-only]
"""
import sys
import xml.etree.ElementTree as ET

MARKER = "[machine cannot provide]"


def skip_reason(lines: list) -> str:
    """GoogleTest's message (the line after "file:line: Skipped"), or a script's SKIP line."""
    for i, line in enumerate(lines):
        if line.rstrip().endswith(": Skipped") and i + 1 < len(lines):
            return lines[i + 1].strip()
    return next((l.strip() for l in lines if "SKIP" in l), "")


def main() -> int:
    report, warn_only = sys.argv[1], "--warn-only" in sys.argv[2:]
    refused, allowed = [], []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.get("status") == "run" and case.find("skipped") is None:
            continue
        if case.find("failure") is not None:
            continue  # a failure: ctest already failed the run
        out = case.findtext("system-out") or ""
        why = case.find("skipped")
        detail = why.get("message", "") if why is not None else case.get("status", "")
        reason = skip_reason(out.splitlines()) or detail
        (allowed if MARKER in out else refused).append(f"{case.get('name')}: {reason}")
    for line in allowed:
        print(f"skipped (allowed, {MARKER}): {line}")
    for line in refused:
        print(f"SKIPPED without a machine reason: {line}", file=sys.stderr)
    if refused and not warn_only:
        print(f"{len(refused)} test(s) skipped in CI; install what they need (scripts/deps) or "
              f"mark a reason the machine cannot provide with {MARKER}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
