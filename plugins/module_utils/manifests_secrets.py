# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Generated secrets that survive a fresh checkout.

Each key of a Secret is resolved in this order, so that a run never replaces what the cluster
already uses:

1. rotation asked for: a new value (keys made by another tool are forgotten instead, so that
   the tool makes new ones);
2. the cluster (apply mode): the key of another Secret it copies (`source`), else the key of
   the Secret itself;
3. the controller's file (render mode, or a Secret not created yet);
4. a new random value (keys with a length), else nothing.

The controller's file is a cache of the result: it is (re)written whenever it differs, so that
tools working on files (certificate signing) and operators reading a generated password see
what the cluster uses.
"""

from __future__ import annotations

import base64
import os
import secrets as _random
import string
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError

DEFAULT_CHARS = string.ascii_letters + string.digits
# Secret data as the cluster holds it: key -> text, or None when the Secret does not exist.
SecretReader = Callable[[str, str], Optional[Dict[str, str]]]


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    key: str


@dataclass(frozen=True)
class KeySpec:
    """One key of the Secret: its controller file and how a missing value is made."""

    key: str
    file: str
    length: int = 0  # 0: never generated here (another tool makes it, e.g. a certificate)
    chars: str = DEFAULT_CHARS
    source: Optional[SecretRef] = None  # the value is a copy of this key of another Secret

    @property
    def generated(self) -> bool:
        return self.length > 0


@dataclass
class Outcome:
    key: str
    value: Optional[str]
    origin: str  # rotated, cluster, cluster <ns>/<name>, file, generated, missing
    file_action: str = ""  # "", "write" or "remove"


@dataclass
class Result:
    outcomes: List[Outcome] = field(default_factory=list)

    @property
    def data(self) -> Dict[str, str]:
        return {o.key: o.value for o in self.outcomes if o.value is not None}

    @property
    def origins(self) -> Dict[str, str]:
        return {o.key: o.origin for o in self.outcomes}

    @property
    def changed(self) -> bool:
        return any(o.file_action or o.origin in ("generated", "rotated") for o in self.outcomes)


def generate(length: int, chars: str) -> str:
    if not chars:
        raise ManifestError("cannot generate a value from an empty character set")
    return "".join(_random.choice(chars) for _ in range(length))


def read_file(path: str, spec: KeySpec) -> Optional[str]:
    """The cached value: passwords as the first line (ansible.builtin.password's format, which may
    append ` salt=...`), other keys byte for byte."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            content = handle.read()
    except FileNotFoundError:
        return None
    if spec.generated:
        first = content.splitlines()[0] if content else ""
        return first.split(" salt=")[0].split(" ident=")[0] or None
    return content


def file_content(value: str, spec: KeySpec) -> str:
    return value + "\n" if spec.generated else value


def from_cluster(spec: KeySpec, namespace: str, name: str, read: SecretReader,
                 cache: Dict[Tuple[str, str], Optional[Dict[str, str]]]) -> Tuple[Optional[str], str]:
    def data(ns: str, secret: str) -> Optional[Dict[str, str]]:
        if (ns, secret) not in cache:
            cache[(ns, secret)] = read(ns, secret)
        return cache[(ns, secret)]

    if spec.source is not None:
        copied = (data(spec.source.namespace, spec.source.name) or {}).get(spec.source.key)
        if copied is not None:
            return copied, "cluster %s/%s" % (spec.source.namespace, spec.source.name)
    own = (data(namespace, name) or {}).get(spec.key)
    return (own, "cluster") if own is not None else (None, "")


def resolve_one(spec: KeySpec, namespace: str, name: str, read: Optional[SecretReader], rotate: bool,
                cache: Dict[Tuple[str, str], Optional[Dict[str, str]]]) -> Outcome:
    cached = read_file(spec.file, spec)
    if rotate and spec.source is None:
        if not spec.generated:
            return Outcome(spec.key, None, "rotated", "remove" if cached is not None else "")
        value = generate(spec.length, spec.chars)
        return Outcome(spec.key, value, "rotated", "write")
    value, origin = from_cluster(spec, namespace, name, read, cache) if read is not None else (None, "")
    if value is None and cached is not None:
        value, origin = cached, "file"
    if value is None and spec.generated:
        value, origin = generate(spec.length, spec.chars), "generated"
    if value is None:
        return Outcome(spec.key, None, "missing")
    return Outcome(spec.key, value, origin, "write" if cached != value else "")


def resolve(namespace: str, name: str, specs: List[KeySpec], read: Optional[SecretReader],
            rotate: Iterable[str] = ()) -> Result:
    """What every key of Secret namespace/name holds after this run (read=None: no cluster);
    the keys in `rotate` get new values."""
    seen: Set[str] = set()
    for spec in specs:
        if spec.key in seen:
            raise ManifestError("key %s of Secret %s/%s is listed twice" % (spec.key, namespace, name))
        seen.add(spec.key)
    rotated = set(rotate)
    unknown = sorted(rotated - seen)
    if unknown:
        raise ManifestError("cannot rotate %s: not a key of Secret %s/%s" % (", ".join(unknown), namespace, name))
    cache: Dict[Tuple[str, str], Optional[Dict[str, str]]] = {}
    return Result([resolve_one(spec, namespace, name, read, spec.key in rotated, cache) for spec in specs])


def store(result: Result, specs: List[KeySpec]) -> List[str]:
    """Bring the controller's files in line with the result; returns what was done, one line a file."""
    by_key = {spec.key: spec for spec in specs}
    done = []
    for outcome in result.outcomes:
        spec = by_key[outcome.key]
        if outcome.file_action == "remove":
            os.unlink(spec.file)
            done.append("removed %s" % spec.file)
        elif outcome.file_action == "write" and outcome.value is not None:
            write_private(spec.file, file_content(outcome.value, spec))
            done.append("wrote %s (%s)" % (spec.file, outcome.origin))
    return done


def write_private(path: str, content: str) -> None:
    """Write a file readable by its owner only, atomically (a crash leaves the old file or the new one)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    partial = path + ".partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(content)
    os.replace(partial, path)


def secret_data(obj: Mapping[str, object]) -> Dict[str, str]:
    """The text of every key of a Secret as the API returns it (data is base64; the server
    never stores stringData)."""
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise ManifestError("Secret data is not a mapping")
    try:
        return {str(key): base64.b64decode(str(value)).decode("utf-8") for key, value in data.items()}
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError("Secret data is not base64 text: %s" % exc)


def cluster_reader(request: Callable[..., object]) -> SecretReader:
    """A SecretReader on the engine's client (`Client.request`): a missing Secret (or namespace)
    is None; any other error stops the run, so that an unreachable or forbidden API never
    looks like a fresh cluster (that would generate new passwords over the ones in use)."""
    from urllib.parse import quote

    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import ApiError

    def read(namespace: str, name: str) -> Optional[Dict[str, str]]:
        path = "/api/v1/namespaces/%s/secrets/%s" % (quote(namespace, safe=""), quote(name, safe=""))
        try:
            obj = request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise ManifestError("cannot read Secret %s/%s: %s" % (namespace, name, exc))
        except ManifestError as exc:  # the client's own "cannot reach the API server at ..."
            raise ManifestError("cannot read Secret %s/%s: %s" % (namespace, name, exc))
        except Exception as exc:  # connection refused, TLS, timeouts (urllib3 raises many types)
            raise ManifestError("cannot read Secret %s/%s: the API server is not reachable: %s" % (namespace, name, exc))
        return secret_data(obj if isinstance(obj, dict) else {})

    return read


def key_specs(keys: List[Mapping[str, object]], directory: str) -> List[KeySpec]:
    """KeySpecs from the module's `keys` option; relative files are taken from `directory`."""
    specs = []
    for entry in keys:
        source = entry.get("source")
        ref = None
        if source:
            if not isinstance(source, dict) or not all(source.get(k) for k in ("namespace", "name", "key")):
                raise ManifestError("source of key %s needs namespace, name and key" % entry.get("key"))
            ref = SecretRef(str(source["namespace"]), str(source["name"]), str(source["key"]))
        path = str(entry["file"])
        specs.append(KeySpec(
            key=str(entry["key"]),
            file=path if os.path.isabs(path) else os.path.join(directory, path),
            length=int(entry.get("length") or 0),  # type: ignore[call-overload]
            chars=str(entry.get("chars") or DEFAULT_CHARS),
            source=ref,
        ))
    return specs


def keep(params: Mapping[str, object], check_mode: bool) -> Dict[str, object]:
    """The whole operation of the manifests_secret module: resolve, keep the files, report."""
    namespace, name = str(params["namespace"]), str(params["name"])
    specs = key_specs(list(params["keys"] or []), str(params["directory"]))  # type: ignore[call-overload]
    read = None
    if params.get("mode") == "apply":
        from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client

        client = Client(params.get("kubeconfig"), params.get("context"), pool_size=1, timeout=30.0)  # type: ignore[arg-type]
        read = cluster_reader(client.request)
    result = resolve(namespace, name, specs, read, rotate=[str(k) for k in params.get("rotate") or []])  # type: ignore[attr-defined]
    files = [] if check_mode else store(result, specs)
    return dict(changed=result.changed, data=result.data, origins=result.origins, files=files)
