"""The live tests' shared `cluster_with_nodes` fixture (tests/live/conftest.py), run in a pytest of
its own against stand-ins of the kubernetes client: a test that needs nodes is skipped with the
reason where the API server has none, and gets the configured client where it has some."""

from __future__ import annotations

import pytest

from project import ROOT

pytest_plugins = ["pytester"]

STAND_IN = '''
import types

import pytest

NODES = %r


@pytest.fixture(scope="module")
def api():
    """A stand-in of the configured kubernetes.client with NODES nodes."""
    nodes = [types.SimpleNamespace(name="node-%%d" %% i) for i in range(NODES)]
    core = types.SimpleNamespace(list_node=lambda: types.SimpleNamespace(items=nodes))
    return types.SimpleNamespace(CoreV1Api=lambda: core, marker="the client")


pytestmark = pytest.mark.usefixtures("cluster_with_nodes")


def test_runs_pods(api):
    assert api.marker == "the client"


def test_asks_for_it(cluster_with_nodes, api):
    assert cluster_with_nodes is api
'''


def test_no_nodes_skips_with_the_reason_and_nodes_pass_the_client_through(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((ROOT / "tests/live/conftest.py").read_text())
    pytester.makepyfile(test_no_nodes=STAND_IN % 0, test_two_nodes=STAND_IN % 2)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, skipped=2)
    skipped = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skipped) == 2 and all(line.startswith("SKIPPED [1] test_no_nodes.py:") and line.endswith(
        ": the API server has no nodes (no kubelet): no pod can run here") for line in skipped), skipped
