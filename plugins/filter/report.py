# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The closing summary of a render run (playbooks/report.yml).

- orchestrate.platform.render_report(stages, render_dir, bundles): the lines to print, from the
  per-stage counts of the `orchestrate.platform.rendered` lookup and what each upstream bundle
  role recorded ({files, included, reason}, or None when the role did not run)
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence


def _stage_line(stage: Mapping[str, Any]) -> str:
    line = "%s: %d object(s) in %d file(s) (%s)" % (stage["stage"], stage["objects"], stage["files"],
                                                   ", ".join(stage["roles"]))
    return line + ("; %d empty file(s)" % stage["empty"] if stage.get("empty") else "")


def _bundle_line(role: str, summary: Mapping[str, Any]) -> str:
    count = len(summary.get("files") or [])
    if summary.get("included"):
        return "upstream %s: included (%d file(s))" % (role, count)
    return "upstream %s: left out (%d file(s)): %s" % (role, count, summary.get("reason") or "not fetched")


def render_report(stages: Sequence[Mapping[str, Any]], render_dir: str,
                  bundles: Optional[Mapping[str, Optional[Mapping[str, Any]]]] = None) -> List[str]:
    ran = {role: summary for role, summary in (bundles or {}).items() if summary}
    left_out = [role for role, summary in ran.items() if not summary.get("included")]
    lines = [
        "RENDER-ONLY RUN: nothing was created or changed in any cloud or cluster.",
        "%d object(s) in %d file(s) under %s:" % (sum(s["objects"] for s in stages), sum(s["files"] for s in stages),
                                                  render_dir),
    ]
    lines += [_stage_line(stage) for stage in stages]
    lines += [_bundle_line(role, summary) for role, summary in ran.items()]
    tail = "A real run (-i inventories/gce, or an inventory with platform_mode=apply) would apply these objects"
    lines.append(tail + (" and the upstream bundles left out here (%s)." % ", ".join(left_out) if left_out else "."))
    return lines


class FilterModule:
    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {"render_report": render_report}
