"""Accessibility checks with axe-core, run inside the page under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

# Impacts that block a customer from reading or using the page: these fail a test.
BLOCKING = ("serious", "critical")


def violations(page: Page, axe_script: Path) -> list[dict[str, Any]]:
    """Every axe-core violation on the page as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const results = await axe.run(document, { resultTypes: ["violations"] });
            return results.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                helpUrl: v.helpUrl,
                nodes: v.nodes.map((n) => ({
                    target: n.target.join(" "),
                    html: n.html,
                    summary: n.failureSummary,
                })),
            }));
        }"""
    )
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """Violations in words a page author can act on: rule, impact, element, what is wrong."""
    lines = []
    for violation in found:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    at {node['target']}: {node['html'][:200]}")
            for reason in str(node["summary"] or "").splitlines():
                lines.append(f"      {reason}")
    return "\n".join(lines)


def assert_accessible(page: Page, axe_script: Path, *, what: str) -> None:
    """Fail when axe-core finds a serious or critical violation on the page."""
    found = violations(page, axe_script)
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert not blocking, (
        f"axe-core found {len(blocking)} serious or critical problem(s) on {what} "
        f"({page.url}):\n{describe(blocking)}"
    )
