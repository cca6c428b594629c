# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""How the HA test's node-loss experiment takes a node away and gives it back.

- `GceControl` stops and starts the node's GCE instance through the Compute Engine API
  (instances.stop / instances.start, then the zone operation is polled until DONE), with the
  credentials the project's google.cloud tasks use: GCP_AUTH_KIND (application,
  serviceaccount, machineaccount) and GCP_SERVICE_ACCOUNT_FILE.
- `CommandControl` runs an argument vector on the controller (for example an ssh command that
  stops the node's kubelet and container runtime), `{node}` replaced by the node name.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol

COMPUTE = "https://compute.googleapis.com/compute/v1"
SCOPES = ("https://www.googleapis.com/auth/compute",)
AUTH_KINDS = ("application", "serviceaccount", "machineaccount")


class NodeControlError(RuntimeError):
    """The node could not be stopped or started (the message says which call failed and why)."""


class NodeControl(Protocol):
    def stop(self) -> None: ...

    def start(self) -> None: ...


class Session(Protocol):
    """The part of google.auth.transport.requests.AuthorizedSession used here."""

    def request(self, method: str, url: str, **kwargs: Any) -> Any: ...


@dataclass
class GceControl:
    project: str
    zone: str
    instance: str
    session: Session
    sleep: Callable[[float], None]
    operation_timeout: float = 300.0
    poll: float = 2.0

    def _instance_url(self) -> str:
        return "%s/projects/%s/zones/%s/instances/%s" % (COMPUTE, self.project, self.zone, self.instance)

    def _call(self, method: str, url: str) -> Dict[str, Any]:
        response = self.session.request(method, url, timeout=30)
        if response.status_code >= 400:
            raise NodeControlError("%s %s: HTTP %d %s" % (method, url, response.status_code, response.text[:300]))
        return response.json()

    def _wait(self, operation: Dict[str, Any], what: str) -> None:
        waited = 0.0
        while operation.get("status") != "DONE":
            if waited >= self.operation_timeout:
                raise NodeControlError("%s of instance %s: operation %s not DONE after %.0f s" % (
                    what, self.instance, operation.get("name"), self.operation_timeout))
            self.sleep(self.poll)
            waited += self.poll
            operation = self._call("GET", "%s/projects/%s/zones/%s/operations/%s" % (
                COMPUTE, self.project, self.zone, operation["name"]))
        errors = (operation.get("error") or {}).get("errors") or []
        if errors:
            raise NodeControlError("%s of instance %s failed: %s" % (what, self.instance, "; ".join(
                "%s: %s" % (e.get("code"), e.get("message")) for e in errors)))

    def stop(self) -> None:
        self._wait(self._call("POST", self._instance_url() + "/stop"), "stop")

    def start(self) -> None:
        self._wait(self._call("POST", self._instance_url() + "/start"), "start")


@dataclass
class CommandControl:
    node: str
    stop_argv: List[str]
    start_argv: List[str]
    timeout: float = 300.0
    runner: Callable[..., Any] = field(default=subprocess.run)

    def _run(self, argv: List[str], what: str) -> None:
        if not argv:
            raise NodeControlError("no %s command for node %s" % (what, self.node))
        command = [a.replace("{node}", self.node) for a in argv]
        try:
            done = self.runner(command, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NodeControlError("%s of node %s: %s: %s" % (what, self.node, command[0], exc)) from exc
        if done.returncode != 0:
            raise NodeControlError("%s of node %s: %s exited %d: %s" % (
                what, self.node, " ".join(command), done.returncode, (done.stderr or done.stdout or "").strip()[-300:]))

    def stop(self) -> None:
        self._run(self.stop_argv, "stop")

    def start(self) -> None:
        self._run(self.start_argv, "start")


def gce_credentials(environ: Mapping[str, str]) -> Any:
    """Credentials as the google.cloud modules take them from the environment."""
    kind = environ.get("GCP_AUTH_KIND", "application")
    if kind not in AUTH_KINDS:
        raise NodeControlError("GCP_AUTH_KIND %r is not one of %s" % (kind, ", ".join(AUTH_KINDS)))
    try:
        if kind == "serviceaccount":
            from google.oauth2 import service_account

            path = environ.get("GCP_SERVICE_ACCOUNT_FILE", "")
            if not path:
                raise NodeControlError("GCP_AUTH_KIND=serviceaccount needs GCP_SERVICE_ACCOUNT_FILE")
            return service_account.Credentials.from_service_account_file(path, scopes=list(SCOPES))
        if kind == "machineaccount":
            from google.auth import compute_engine

            return compute_engine.Credentials()
        import google.auth

        return google.auth.default(scopes=list(SCOPES))[0]
    except NodeControlError:
        raise
    # google-auth raises its own DefaultCredentialsError, ValueError or OSError for a bad file.
    except Exception as exc:  # noqa: BLE001
        raise NodeControlError("no GCE credentials (GCP_AUTH_KIND=%s): %s" % (kind, exc)) from exc


def gce_session(environ: Mapping[str, str]) -> Session:
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(gce_credentials(environ))


def control_for(settings: Mapping[str, Any], node: str, environ: Mapping[str, str], sleep: Callable[[float], None],
                session: Optional[Session] = None) -> NodeControl:
    """The NodeControl of the experiment's node_control settings: method gce (project, zone,
    instance: the node name when empty) or command (stop and start argument vectors)."""
    method = settings.get("method")
    if method == "command":
        return CommandControl(node=node, stop_argv=list(settings.get("stop") or []), start_argv=list(settings.get("start") or []))
    if method == "gce":
        missing = [k for k in ("project", "zone") if not settings.get(k)]
        if missing:
            raise NodeControlError("node_control method gce needs %s" % " and ".join(missing))
        return GceControl(project=str(settings["project"]), zone=str(settings["zone"]),
                          instance=str(settings.get("instance") or node),
                          session=session if session is not None else gce_session(environ), sleep=sleep)
    raise NodeControlError("node_control method %r is not one of gce, command" % method)
