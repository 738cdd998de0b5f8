"""Reads a googletest XML report (--gtest_output=xml:F) into plain records (stdlib only).

Shared by tests/vm/integration-test (the guest's report) and tests/vm/matrix (host x guest).
gtest 1.12's format: <testsuites kernel=... timestamp=...> <testsuite name=S> <testcase name=T
classname=S result="completed|skipped" time=...> with <failure message=...> or <skipped
message=...> children. `kernel` is a property the integration suite records (tests/integration/
main.cpp), absent in reports of older builds.
"""
import xml.etree.ElementTree as ET


class Report:
    """tests: list of dicts {suite, name, status ('pass'|'skip'|'fail'), message, seconds}."""

    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.path = path
        self.kernel = root.get("kernel", "")
        self.timestamp = root.get("timestamp", "")
        self.seconds = float(root.get("time", "0").rstrip("s") or 0)
        self.tests = []
        for case in root.iter("testcase"):
            if case.get("status", "run") != "run":  # DISABLED_ tests: not run, not reported
                continue
            failures = case.findall("failure") + case.findall("error")
            skipped = case.find("skipped")
            if failures:
                status = "fail"
                message = " | ".join((f.get("message") or f.text or "").strip() for f in failures)
            elif skipped is not None or case.get("result") == "skipped":
                status = "skip"
                message = (skipped.get("message") if skipped is not None else "") or ""
            else:
                status, message = "pass", ""
            self.tests.append({"suite": case.get("classname", ""), "name": case.get("name", ""),
                               "status": status, "message": skip_reason(message) if status == "skip" else message,
                               "seconds": float(case.get("time", "0").rstrip("s") or 0)})

    def count(self, status):
        return sum(1 for t in self.tests if t["status"] == status)


def skip_reason(message):
    """gtest's skip message is 'file:line\\nSkipped\\n<reason>': keep the reason."""
    lines = [l.strip() for l in message.splitlines() if l.strip()]
    if lines and lines[0].count(":") >= 1 and lines[0].rsplit(":", 1)[-1].isdigit():
        lines = lines[1:]
    if lines and lines[0] == "Skipped":
        lines = lines[1:]
    return " ".join(lines)
