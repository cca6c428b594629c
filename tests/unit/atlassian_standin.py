"""A stand-in for the small part of the Jira and Confluence Data Center REST APIs that
orchestrate.platform.atlassian_configure uses, served over HTTP on loopback.

Response shapes follow Atlassian's REST reference for Jira Server/Data Center (api/2: issuetype,
field, project, project/{key}/components, component, status, workflow) and Confluence Server/Data
Center (space, space?expand=homepage, content, template, template/page): lists where the reference returns lists, Confluence's
paged `{"results": [...], "start", "limit", "size"}` for templates, 201 with the created object,
404 with `{"statusCode": 404, "message": ...}` for a missing space, 401 without the right basic-auth.
Every request is recorded, so a test can tell reading calls from changing ones."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlparse

CHANGING = ("POST", "PUT", "DELETE", "PATCH")


@dataclass
class Instance:
    """The state of one stand-in application."""

    product: str
    username: str = "platform-admin"
    password: str = "s3cret-for-tests"
    state: str = "RUNNING"
    issue_types: List[Dict[str, Any]] = field(default_factory=lambda: [
        {"id": "10000", "name": "Task", "subtask": False}, {"id": "10001", "name": "Sub-task", "subtask": True}])
    fields: List[Dict[str, Any]] = field(default_factory=lambda: [
        {"id": "summary", "name": "Summary", "custom": False, "schema": {"type": "string", "system": "summary"}}])
    projects: List[Dict[str, Any]] = field(default_factory=list)
    components: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    statuses: List[Dict[str, Any]] = field(default_factory=lambda: [
        {"id": "1", "name": "Open"}, {"id": "3", "name": "In Progress"}, {"id": "10001", "name": "Done"}])
    workflows: List[Dict[str, Any]] = field(default_factory=lambda: [{"name": "jira", "description": "The default workflow", "steps": 5}])
    spaces: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    templates: List[Dict[str, Any]] = field(default_factory=list)
    pages: List[Dict[str, Any]] = field(default_factory=list)
    requests: List[Tuple[str, str, Any]] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(10100))

    def changing(self) -> List[Tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] in CHANGING]


class _Handler(BaseHTTPRequestHandler):
    instance: Instance

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # -- plumbing --------------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _send(self, status: int, payload: Any = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = "Basic " + base64.b64encode(("%s:%s" % (self.instance.username, self.instance.password)).encode()).decode()
        return self.headers.get("Authorization") == expected

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        body = self._body() if method in CHANGING else None
        self.instance.requests.append((method, url.path, body))
        if url.path == "/status":  # anonymous, as in the applications
            return self._send(200, {"state": self.instance.state})
        if not self._authorised():
            return self._send(401, {"message": "Client must be authenticated to access this resource.", "status-code": 401})
        route = getattr(self, "_%s_%s" % (self.instance.product, method.lower()))
        route(url.path, parse_qs(url.query), body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _next_id(self) -> str:
        return str(next(self.instance.ids))

    # -- Jira ------------------------------------------------------------------------------

    def _jira_get(self, path: str, query: Dict[str, List[str]], body: Any) -> None:
        i = self.instance
        tables = {"/rest/api/2/issuetype": i.issue_types, "/rest/api/2/field": i.fields, "/rest/api/2/project": i.projects,
                  "/rest/api/2/status": i.statuses, "/rest/api/2/workflow": i.workflows}
        if path in tables:
            return self._send(200, tables[path])
        parts = path.split("/")
        if path.startswith("/rest/api/2/project/") and parts[-1] == "components":
            key = parts[-2]
            if key not in {p["key"] for p in i.projects}:
                return self._send(404, {"errorMessages": ["No project could be found with key '%s'." % key], "errors": {}})
            return self._send(200, i.components.get(key, []))
        self._send(404, {"errorMessages": ["not served by the stand-in: %s" % path]})

    def _jira_post(self, path: str, query: Dict[str, List[str]], body: Any) -> None:
        i = self.instance
        if path == "/rest/api/2/issuetype":
            if any(t["name"] == body["name"] for t in i.issue_types):
                return self._send(409, {"errorMessages": [], "errors": {"name": "An issue type with this name already exists."}})
            created = {"id": self._next_id(), "name": body["name"], "description": body.get("description", ""),
                       "subtask": body.get("type") == "subtask"}
            i.issue_types.append(created)
            return self._send(201, created)
        if path == "/rest/api/2/field":
            created = {"id": "customfield_%s" % self._next_id(), "name": body["name"], "custom": True,
                       "schema": {"type": "any", "custom": body["type"]}, "searcherKey": body.get("searcherKey")}
            i.fields.append(created)
            return self._send(201, created)
        if path == "/rest/api/2/project":
            if any(p["key"] == body["key"] for p in i.projects):
                return self._send(400, {"errorMessages": [], "errors": {"projectKey": "A project with that project key already exists."}})
            created = {"id": self._next_id(), "key": body["key"], "name": body["name"], "projectTypeKey": body["projectTypeKey"]}
            i.projects.append(dict(created, lead=body.get("lead")))
            return self._send(201, {"self": "http://stand-in/rest/api/2/project/%s" % created["id"], "id": int(created["id"]), "key": created["key"]})
        if path.rstrip("/") == "/rest/api/2/component":
            if body["project"] not in {p["key"] for p in i.projects}:
                return self._send(400, {"errorMessages": [], "errors": {"project": "The project does not exist."}})
            created = {"id": self._next_id(), "name": body["name"], "project": body["project"]}
            i.components.setdefault(body["project"], []).append(created)
            return self._send(201, created)
        self._send(404, {"errorMessages": ["not served by the stand-in: %s" % path]})

    def _jira_put(self, path: str, query: Dict[str, List[str]], body: Any) -> None:
        self._send(405, {"errorMessages": ["method not allowed"]})

    # -- Confluence ------------------------------------------------------------------------

    def _confluence_get(self, path: str, query: Dict[str, List[str]], body: Any) -> None:
        i = self.instance
        if path.startswith("/rest/api/space/"):
            key = path.rsplit("/", 1)[-1]
            if key not in i.spaces:
                return self._send(404, {"statusCode": 404, "message": "No space found with key : %s" % key})
            space = dict(i.spaces[key])
            if "homepage" not in (query.get("expand") or [""])[0]:
                space.pop("homepage", None)
            return self._send(200, space)
        if path.rstrip("/") == "/rest/api/content":
            key, title = (query.get("spaceKey") or [None])[0], (query.get("title") or [None])[0]
            found = [p for p in i.pages if p["space"]["key"] == key and p["title"] == title]
            return self._send(200, {"results": found, "start": 0, "limit": 25, "size": len(found)})
        if path == "/rest/api/template/page":
            key = (query.get("spaceKey") or [None])[0]
            if key is not None and key not in i.spaces:
                return self._send(404, {"statusCode": 404, "message": "No space found with key : %s" % key})
            found = [self._template_view(t, "body" in (query.get("expand") or [""])[0])
                     for t in i.templates if (t.get("space") or {}).get("key") == key]
            return self._send(200, {"results": found, "start": 0, "limit": 25, "size": len(found)})
        self._send(404, {"statusCode": 404, "message": "not served by the stand-in: %s" % path})

    @staticmethod
    def _template_view(template: Dict[str, Any], with_body: bool) -> Dict[str, Any]:
        view = {k: v for k, v in template.items() if k != "body"}
        if with_body:
            view["body"] = template["body"]
        return view

    def _confluence_post(self, path: str, query: Dict[str, List[str]], body: Any) -> None:
        i = self.instance
        if path == "/rest/api/space":
            if body["key"] in i.spaces:
                return self._send(400, {"statusCode": 400, "message": "A space with key %s already exists" % body["key"]})
            home = {"id": self._next_id(), "type": "page", "title": "%s Home" % body["name"], "space": {"key": body["key"]}, "ancestors": []}
            i.pages.append(home)
            created = {"id": int(self._next_id()), "key": body["key"], "name": body["name"], "type": "global",
                       "homepage": {"id": home["id"], "type": "page", "title": home["title"]}}
            i.spaces[body["key"]] = created
            return self._send(200, created)
        if path.rstrip("/") == "/rest/api/content":
            if body["space"]["key"] not in i.spaces:
                return self._send(400, {"statusCode": 400, "message": "space does not exist"})
            if any(p["space"] == body["space"] and p["title"] == body["title"] for p in i.pages):
                return self._send(400, {"statusCode": 400, "message": "A page with this title already exists"})
            created = {"id": self._next_id(), "type": body["type"], "title": body["title"], "space": body["space"],
                       "ancestors": body.get("ancestors", []), "body": body["body"]}
            i.pages.append(created)
            return self._send(200, created)
        if path == "/rest/api/template":
            if (body.get("space") or {}).get("key") not in i.spaces:
                return self._send(400, {"statusCode": 400, "message": "space does not exist"})
            created = dict(body, templateId=self._next_id())
            i.templates.append(created)
            return self._send(200, created)
        self._send(404, {"statusCode": 404, "message": "not served by the stand-in: %s" % path})

    def _confluence_put(self, path: str, query: Dict[str, List[str]], body: Any) -> None:
        i = self.instance
        if path == "/rest/api/template":
            for template in i.templates:
                if template["templateId"] == body.get("templateId"):
                    template.update(body)
                    return self._send(200, template)
            return self._send(404, {"statusCode": 404, "message": "No template with id %s" % body.get("templateId")})
        self._send(404, {"statusCode": 404, "message": "not served by the stand-in: %s" % path})


class StandIn:
    """A running stand-in: `url`, its `instance`, and `close()`."""

    def __init__(self, instance: Instance) -> None:
        handler = type("Handler", (_Handler,), {"instance": instance})
        self.instance = instance
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start(product: str, **state: Any) -> StandIn:
    return StandIn(Instance(product=product, **state))


def first(instance: Instance, method: Optional[str] = None) -> List[str]:
    return [path for m, path, _ in instance.requests if method is None or m == method]
