"""How the node-loss experiment stops and starts a node: the Compute Engine calls (URLs, the
zone operation polled until DONE, its errors), the command runner, and the settings."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.ha_nodes import (
    COMPUTE,
    CommandControl,
    GceControl,
    NodeControlError,
    control_for,
    gce_credentials,
)


class Response:
    def __init__(self, status: int, body: Dict[str, Any]) -> None:
        self.status_code, self._body, self.text = status, body, json.dumps(body)

    def json(self) -> Dict[str, Any]:
        return self._body


class FakeCompute:
    """instances.stop/start answer a RUNNING operation that is DONE after `polls` GETs."""

    def __init__(self, polls: int = 2, error: Optional[Dict[str, Any]] = None, status: int = 200) -> None:
        self.polls, self.error, self.status = polls, error, status
        self.calls: List[tuple] = []
        self.seen = 0

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.calls.append((method, url, kwargs.get("timeout")))
        if self.status != 200:
            return Response(self.status, {"error": {"message": "forbidden"}})
        if method == "POST":
            return Response(200, {"name": "operation-1", "status": "RUNNING"})
        self.seen += 1
        done = self.seen >= self.polls
        body: Dict[str, Any] = {"name": "operation-1", "status": "DONE" if done else "RUNNING"}
        if done and self.error:
            body["error"] = self.error
        return Response(200, body)


def gce(session: FakeCompute, **kwargs: Any) -> GceControl:
    slept: List[float] = []
    control = GceControl(project="p1", zone="europe-west1-b", instance="worker-2", session=session, sleep=slept.append, **kwargs)
    return control


def test_stop_posts_to_the_instance_and_waits_for_the_zone_operation() -> None:
    session = FakeCompute(polls=3)
    gce(session).stop()
    base = COMPUTE + "/projects/p1/zones/europe-west1-b"
    assert session.calls[0] == ("POST", base + "/instances/worker-2/stop", 30)
    assert [c[:2] for c in session.calls[1:]] == [("GET", base + "/operations/operation-1")] * 3


def test_start_posts_start() -> None:
    session = FakeCompute(polls=1)
    gce(session).start()
    assert session.calls[0][1].endswith("/instances/worker-2/start")


def test_an_operation_error_is_raised_with_its_message() -> None:
    session = FakeCompute(polls=1, error={"errors": [{"code": "RESOURCE_NOT_READY", "message": "instance is busy"}]})
    with pytest.raises(NodeControlError, match="stop of instance worker-2 failed: RESOURCE_NOT_READY: instance is busy"):
        gce(session).stop()


def test_an_http_error_names_the_call() -> None:
    with pytest.raises(NodeControlError, match="POST .*/instances/worker-2/stop: HTTP 403"):
        gce(FakeCompute(status=403)).stop()


def test_an_operation_that_never_ends_times_out() -> None:
    with pytest.raises(NodeControlError, match="not DONE after 10 s"):
        gce(FakeCompute(polls=10**6), operation_timeout=10.0, poll=2.0).stop()


def test_the_command_control_runs_the_argv_with_the_node_name(tmp_path: Any) -> None:
    out = tmp_path / "calls"
    script = "import sys; open(%r, 'a').write(' '.join(sys.argv[1:]) + '\\n')" % str(out)
    control = CommandControl(node="node-b", stop_argv=[sys.executable, "-c", script, "stop", "{node}"],
                             start_argv=[sys.executable, "-c", script, "start", "{node}"])
    control.stop()
    control.start()
    assert out.read_text().splitlines() == ["stop node-b", "start node-b"]


def test_a_failing_command_is_an_error_with_its_output() -> None:
    control = CommandControl(node="n", stop_argv=[sys.executable, "-c", "import sys; sys.exit('kubelet still up')"], start_argv=[])
    with pytest.raises(NodeControlError, match="stop of node n: .* exited 1: kubelet still up"):
        control.stop()
    with pytest.raises(NodeControlError, match="no start command for node n"):
        control.start()


def test_a_command_that_hangs_times_out() -> None:
    def runner(*args: Any, **kwargs: Any) -> Any:
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    with pytest.raises(NodeControlError, match="stop of node n"):
        CommandControl(node="n", stop_argv=["sleep", "99"], start_argv=[], runner=runner).stop()


def test_control_for_builds_each_method_and_refuses_bad_settings() -> None:
    session = FakeCompute()
    control = control_for({"method": "gce", "project": "p1", "zone": "z1", "instance": ""}, "worker-3", {}, lambda s: None,
                          session=session)
    assert isinstance(control, GceControl) and control.instance == "worker-3" and control.zone == "z1"
    command = control_for({"method": "command", "stop": ["a"], "start": ["b"]}, "n", {}, lambda s: None)
    assert isinstance(command, CommandControl) and command.stop_argv == ["a"]
    with pytest.raises(NodeControlError, match="needs project and zone"):
        control_for({"method": "gce"}, "n", {}, lambda s: None, session=session)
    with pytest.raises(NodeControlError, match="method 'ssh' is not one of gce, command"):
        control_for({"method": "ssh"}, "n", {}, lambda s: None)


def test_credentials_follow_the_google_cloud_environment(tmp_path: Any) -> None:
    with pytest.raises(NodeControlError, match="GCP_AUTH_KIND 'password' is not one of"):
        gce_credentials({"GCP_AUTH_KIND": "password"})
    with pytest.raises(NodeControlError, match="needs GCP_SERVICE_ACCOUNT_FILE"):
        gce_credentials({"GCP_AUTH_KIND": "serviceaccount"})
    bad = tmp_path / "key.json"
    bad.write_text("{}")
    with pytest.raises(NodeControlError, match="no GCE credentials \\(GCP_AUTH_KIND=serviceaccount\\)"):
        gce_credentials({"GCP_AUTH_KIND": "serviceaccount", "GCP_SERVICE_ACCOUNT_FILE": str(bad)})
