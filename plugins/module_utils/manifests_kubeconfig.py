# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Reads the static credentials of a kubeconfig without importing the `kubernetes` package.

Importing `kubernetes.config` costs about a second per module run; most kubeconfigs (kubeadm's
admin.conf, service-account tokens) hold only a server, a CA and a client certificate or a
token. Those are read here. Users with an `exec` credential plugin or an `auth-provider` get
None, and the caller falls back to the `kubernetes` package, which knows how to refresh them.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError

DEFAULT_PATH = os.path.join("~", ".kube", "config")


@dataclass(frozen=True)
class Credentials:
    server: str
    verify: bool = True
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    token: Optional[str] = None
    tls_server_name: Optional[str] = None
    proxy: Optional[str] = None


def kubeconfig_path(explicit: Optional[str]) -> str:
    """The kubeconfig to read: the given one, else the first of $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return os.path.expanduser(explicit)
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return os.path.expanduser(first or DEFAULT_PATH)


def _named(entries: List[Mapping[str, Any]], name: str, what: str) -> Mapping[str, Any]:
    for entry in entries or []:
        if entry.get("name") == name:
            return entry.get(what) or {}
    raise ManifestError("kubeconfig has no %s named %r" % (what, name))


def _file_or_data(section: Mapping[str, Any], key: str, base: str, scratch: "Scratch") -> Optional[str]:
    """A path for `key` (relative to the kubeconfig's directory) or for the inline `key-data`."""
    data = section.get(key + "-data")
    if data:
        return scratch.write(key, base64.b64decode(data))
    path = section.get(key)
    if path:
        return path if os.path.isabs(path) else os.path.join(base, path)
    return None


class Scratch:
    """A private directory for inline certificates, removed when the process ends."""

    def __init__(self) -> None:
        self._dir: Optional[str] = None

    def write(self, name: str, content: bytes) -> str:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="manifests-kubeconfig-")
            atexit.register(shutil.rmtree, self._dir, True)
        path = os.path.join(self._dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        return path


def static_credentials(config: Mapping[str, Any], context: Optional[str], base: str, scratch: Scratch) -> Optional[Credentials]:
    """Credentials of `context` (the current one when None), or None when they need the full loader."""
    name = context or config.get("current-context")
    if not name:
        raise ManifestError("kubeconfig has no current-context and no context was given")
    ctx = _named(config.get("contexts") or [], name, "context")
    cluster = _named(config.get("clusters") or [], ctx.get("cluster", ""), "cluster")
    user: Dict[str, Any] = dict(_named(config.get("users") or [], ctx.get("user", ""), "user")) if ctx.get("user") else {}
    if any(key in user for key in ("exec", "auth-provider", "username", "as", "impersonate")):
        return None
    if not cluster.get("server"):
        raise ManifestError("kubeconfig cluster %r has no server" % ctx.get("cluster"))
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(user["tokenFile"], encoding="utf-8") as handle:
            token = handle.read().strip()
    return Credentials(
        server=str(cluster["server"]).rstrip("/"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
        ca_file=_file_or_data(cluster, "certificate-authority", base, scratch),
        cert_file=_file_or_data(user, "client-certificate", base, scratch),
        key_file=_file_or_data(user, "client-key", base, scratch),
        token=token,
        tls_server_name=cluster.get("tls-server-name"),
        proxy=cluster.get("proxy-url"),
    )


def load(kubeconfig: Optional[str], context: Optional[str]) -> Optional[Credentials]:
    """Static credentials from the kubeconfig file, or None when the full loader is needed
    (exec/auth-provider users, or several files merged through $KUBECONFIG)."""
    import yaml

    if not kubeconfig and os.pathsep in os.environ.get("KUBECONFIG", "").strip(os.pathsep):
        return None
    path = kubeconfig_path(kubeconfig)
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ManifestError("cannot read kubeconfig %s: %s" % (path, exc))
    return static_credentials(config, context, os.path.dirname(os.path.abspath(path)), Scratch())
