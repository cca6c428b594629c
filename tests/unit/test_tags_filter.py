"""orchestrate.platform.run_roles: the roles a --tags / --skip-tags selection runs."""

from __future__ import annotations

from typing import List

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.tags import run_roles

STAGES = {
    "infra": ["gce_network"],
    "cluster": ["containerd", "calico"],
    "platform": ["calico", "storage", "gateway"],
    "apps": ["wordpress"],
}


@pytest.mark.parametrize("run, skip, expected", [
    (["all"], [], ["gce_network", "containerd", "calico", "storage", "gateway", "wordpress"]),
    (["wordpress"], [], ["wordpress"]),
    (["platform"], [], ["calico", "storage", "gateway"]),
    (["cluster"], [], ["containerd", "calico"]),
    (["containerd_config"], [], ["containerd"]),
    (["platform_preflight"], [], ["calico", "storage", "gateway"]),
    (["storage", "wordpress"], [], ["storage", "wordpress"]),
    (["all"], ["platform"], ["gce_network", "containerd", "wordpress"]),
    (["all"], ["gateway", "infra"], ["containerd", "calico", "storage", "wordpress"]),
    (["all"], ["containerd_install"], ["gce_network", "containerd", "calico", "storage", "gateway", "wordpress"]),
    (["always"], [], []),
    (["no_such_tag"], [], []),
])
def test_run_roles(run: List[str], skip: List[str], expected: List[str]) -> None:
    assert run_roles(STAGES, run, skip) == expected


def test_a_role_name_is_not_a_prefix_match_of_another_word() -> None:
    assert run_roles({"s": ["gateway", "gate"]}, ["gateway"]) == ["gateway"]
