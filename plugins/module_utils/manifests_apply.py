# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Apply a role's objects to a cluster: server-side apply in waves, prune, wait.

One run:
1. read the role's ApplySet parent and list its current members (one LIST per group-kind);
   these listings are both the "before" state for change detection and the prune candidates;
2. record the union of old and new group-kinds/namespaces on the parent, so an interrupted
   run never orphans objects;
3. server-side apply the objects wave by wave (see manifests_objects), each wave concurrently;
   CRDs are awaited until Established before their custom resources are applied; with
   `wait`, workloads are awaited before custom resources and admission hooks;
4. delete members that are no longer rendered (never PVCs, Namespaces only when asked);
5. record the final group-kinds/namespaces on the parent;
6. with `wait`, wait until every Deployment/StatefulSet/DaemonSet/Job is ready.

An object counts as changed only when a field the engine's field manager owns (or owned)
differs between before and after (manifests_fields), so status writes by controllers and
managed-fields bookkeeping never make a re-run report `changed`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_applyset import (
    PART_OF_LABEL,
    ApplySet,
    prune_plan,
    recorded,
    split_group_kind,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import (
    APPLY_PATCH,
    ApiError,
    Client,
    Discovery,
    Resource,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_fields import (
    manager_fields,
    merge_fields,
    owned_change,
    owned_view,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import (
    WAVE_EXTENSIONS,
    WAVE_FOUNDATION,
    ManifestError,
    Obj,
    Ref,
    check_unique,
    group_into_waves,
    redact,
    string_data_as_data,
    with_labels,
)
from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_readiness import readiness

T = TypeVar("T")
R = TypeVar("R")

CHANGING_ACTIONS = frozenset({"created", "configured", "pruned"})


@dataclass(frozen=True)
class ApplyOptions:
    field_manager: str = "orchestrate.platform"
    force_conflicts: bool = True
    check_mode: bool = False
    want_diff: bool = False
    wait: bool = True
    wait_timeout: float = 600.0
    poll_interval: float = 2.0
    prune: bool = True
    prune_namespaces: bool = False
    concurrency: int = 8


@dataclass
class Outcome:
    ref: Ref
    action: str  # created | configured | unchanged | pruned | kept
    note: str = ""
    diff: Optional[Dict[str, Any]] = None

    @property
    def changed(self) -> bool:
        return self.action in CHANGING_ACTIONS


@dataclass
class Report:
    outcomes: List[Outcome] = field(default_factory=list)
    not_ready: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(outcome.changed for outcome in self.outcomes)

    def summary(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        return counts


class ApplyFailed(ManifestError):
    """Some objects failed; `report` holds what was done before that."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


def diff_entry(ref: Ref, before: Optional[Obj], after: Optional[Obj], manager: str) -> Dict[str, Any]:
    """An Ansible diff of the fields the manager owns before and after (Secret values hidden)."""
    import yaml

    fields = merge_fields(manager_fields(before, manager), manager_fields(after, manager))

    def view(obj: Optional[Obj]) -> str:
        if obj is None:
            return ""
        shown = {"apiVersion": ref.api_version, "kind": ref.kind}
        shown.update(owned_view(obj, fields) or {})
        return yaml.safe_dump(redact(shown), sort_keys=False, default_flow_style=False)

    return {"before_header": str(ref), "after_header": str(ref), "before": view(before), "after": view(after)}


class Applier:
    """Applies one role's objects (its ApplySet) to one cluster."""

    def __init__(
        self, client: Client, applyset: ApplySet, options: ApplyOptions, discovery: Optional[Discovery] = None
    ) -> None:
        self._client = client
        self._set = applyset
        self._opts = options
        self._discovery = discovery or Discovery(client)
        self._pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency))

    # -- helpers -----------------------------------------------------------------------

    def _parallel(self, func: Callable[[T], R], items: Sequence[T]) -> Tuple[List[R], List[str]]:
        """Run func over items on the worker pool; results in order, plus error messages."""
        futures = [self._pool.submit(func, item) for item in items]
        results: List[R] = []
        errors: List[str] = []
        for future in futures:
            try:
                results.append(future.result())
            except ManifestError as exc:
                errors.append(str(exc))
        return results, errors

    def _query(self, **extra: str) -> Dict[str, str]:
        query = {"fieldManager": self._opts.field_manager}
        if self._opts.check_mode:
            query["dryRun"] = "All"
        query.update(extra)
        return query

    # -- the ApplySet parent -------------------------------------------------------------

    def _get_parent(self) -> Optional[Obj]:
        ref = self._set.ref
        try:
            return self._client.request("GET", Resource("", "v1", "ConfigMap", "configmaps", True).path(ref.namespace, ref.name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def _record(self, current: Optional[Obj], group_kinds: Iterable[str], namespaces: Iterable[str]) -> Optional[Obj]:
        """Write the parent when what it records differs; returns the parent as it now stands."""
        wanted = self._set.parent(group_kinds, namespaces)
        if current is not None and recorded(current) == recorded(wanted):
            return current
        if self._opts.check_mode:
            return wanted
        ref = self._set.ref
        path = Resource("", "v1", "ConfigMap", "configmaps", True).path(ref.namespace, ref.name)
        return self._client.request("PATCH", path, self._query(force="true"), wanted, APPLY_PATCH)

    # -- before state --------------------------------------------------------------------

    def _list_members(self, group_kind: str) -> List[Obj]:
        group, kind = split_group_kind(group_kind)
        resource = self._discovery.preferred(group, kind)
        if resource is None:
            return []
        listing = self._client.request("GET", resource.path(), {"labelSelector": "%s=%s" % (PART_OF_LABEL, self._set.id)})
        items = listing.get("items") or []
        for item in items:
            item["apiVersion"] = listing.get("apiVersion", resource.group + "/" + resource.version)
            item["kind"] = kind
        return items

    def _members(self, group_kinds: Iterable[str]) -> Dict[Tuple[str, str, str, str], Obj]:
        listings, errors = self._parallel(self._list_members, sorted(group_kinds))
        if errors:
            raise ManifestError("listing the current objects failed: " + "; ".join(errors))
        return {Ref.of(item).identity(): item for listing in listings for item in listing}

    # -- apply ---------------------------------------------------------------------------

    def _apply_one(self, obj: Obj, before: Optional[Obj]) -> Tuple[Outcome, Optional[Obj]]:
        ref = Ref.of(obj)
        resource = self._discovery.find(ref.group, ref.version, ref.kind)
        if resource is None:
            if self._opts.check_mode:
                return Outcome(ref, "created", "its API is not served yet (CRD created by this run)"), None
            raise ManifestError("%s: the API server does not serve %s %s" % (ref, ref.api_version, ref.kind))
        if resource.namespaced and not ref.namespace:
            raise ManifestError("%s: %s is namespaced, set metadata.namespace" % (ref, ref.kind))
        force = "true" if self._opts.force_conflicts else "false"
        try:
            after = self._client.request(
                "PATCH", resource.path(ref.namespace, ref.name), self._query(force=force), obj, APPLY_PATCH
            )
        except ApiError as exc:
            if self._opts.check_mode and exc.status == 404:
                return Outcome(ref, "created", "its namespace does not exist yet"), None
            raise ManifestError("%s: %s" % (ref, exc))
        manager = self._opts.field_manager
        if before is None:
            action = "created" if len((after.get("metadata") or {}).get("managedFields") or []) <= 1 else "configured"
        else:
            action = "configured" if owned_change(before, after, manager) else "unchanged"
        outcome = Outcome(ref, action)
        if self._opts.want_diff and outcome.changed:
            outcome.diff = diff_entry(ref, before, after, manager)
        return outcome, after

    def _apply_wave(
        self, wave: List[Obj], existing: Dict[Tuple[str, str, str, str], Obj], report: Report
    ) -> List[Obj]:
        results, errors = self._parallel(lambda obj: self._apply_one(obj, existing.get(Ref.of(obj).identity())), wave)
        report.outcomes.extend(outcome for outcome, _ in results)
        if errors:
            raise ApplyFailed("applying failed for %d object(s): %s" % (len(errors), "; ".join(errors)), report)
        return [after for _, after in results if after is not None]

    def _wait_established(self, crds: List[Obj]) -> None:
        """Wait until the CRDs just applied are served, then forget cached discovery of their groups."""
        deadline = time.monotonic() + min(self._opts.wait_timeout, 120.0)
        resource = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)
        for crd in crds:
            name = crd["metadata"]["name"]
            while True:
                current = self._client.request("GET", resource.path(name=name))
                conditions = {c.get("type"): c.get("status") for c in (current.get("status") or {}).get("conditions") or []}
                if conditions.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise ManifestError("CustomResourceDefinition %s was not established in time" % name)
                time.sleep(0.5)
            self._discovery.forget(str(crd.get("spec", {}).get("group", "")))

    # -- wait ------------------------------------------------------------------------------

    def _await(self, obj: Obj) -> str:
        """Poll one workload until it is ready; returns '' or why it is not."""
        ref = Ref.of(obj)
        resource = self._discovery.resource(ref.group, ref.version, ref.kind)
        deadline = time.monotonic() + self._opts.wait_timeout
        current = obj
        while True:
            state = readiness(current)
            if state.ready:
                return ""
            if state.failed or time.monotonic() > deadline:
                return "%s: %s" % (ref, state.reason)
            time.sleep(self._opts.poll_interval)
            current = self._client.request("GET", resource.path(ref.namespace, ref.name))

    def _wait_all(self, applied: List[Obj], report: Report) -> None:
        pending = [obj for obj in applied if not readiness(obj).ready]
        if not pending:
            return
        reasons, errors = self._parallel(self._await, pending)
        report.not_ready.extend(reason for reason in reasons if reason)
        report.not_ready.extend(errors)
        if report.not_ready:
            raise ApplyFailed("not ready after %ss: %s" % (int(self._opts.wait_timeout), "; ".join(report.not_ready)), report)

    # -- prune -----------------------------------------------------------------------------

    def _delete(self, ref: Ref) -> Outcome:
        if not self._opts.check_mode:
            group, kind = ref.group, ref.kind
            resource = self._discovery.preferred(group, kind)
            if resource is not None:
                try:
                    self._client.request(
                        "DELETE", resource.path(ref.namespace, ref.name), None, {"propagationPolicy": "Background"}
                    )
                except ApiError as exc:
                    if exc.status != 404:
                        raise ManifestError("%s: pruning failed: %s" % (ref, exc))
        return Outcome(ref, "pruned")

    def _prune(self, existing: Dict[Tuple[str, str, str, str], Obj], desired: List[Ref], report: Report) -> None:
        plan = prune_plan((Ref.of(obj) for obj in existing.values()), desired, self._opts.prune_namespaces)
        for ref in plan.keep:
            report.outcomes.append(Outcome(ref, "kept", "no longer rendered; %s objects are never pruned automatically" % ref.kind))
        results, errors = self._parallel(self._delete, plan.delete)
        report.outcomes.extend(results)
        if errors:
            raise ApplyFailed("pruning failed: " + "; ".join(errors), report)

    # -- the run -----------------------------------------------------------------------------

    def run(self, objects: List[Obj]) -> Report:
        try:
            return self._run(objects)
        finally:
            self._pool.shutdown(wait=True)

    def _run(self, objects: List[Obj]) -> Report:
        check_unique(objects)
        labels = self._set.member_labels()
        desired = [with_labels(string_data_as_data(obj), labels) for obj in objects]
        refs = [Ref.of(obj) for obj in desired]
        report = Report()

        parent = self._get_parent()
        old = recorded(parent)
        new_group_kinds = {ref.group_kind for ref in refs}
        new_namespaces = {ref.namespace for ref in refs}
        existing = self._members(old.group_kinds | new_group_kinds)
        parent = self._record(parent, old.group_kinds | new_group_kinds, old.namespaces | new_namespaces)

        applied: List[Obj] = []
        for wave_number, wave in group_into_waves(desired):
            if wave_number == WAVE_EXTENSIONS and self._opts.wait and not self._opts.check_mode:
                self._wait_all(applied, report)
            applied.extend(self._apply_wave(wave, existing, report))
            crds = [obj for obj in wave if obj.get("kind") == "CustomResourceDefinition"]
            if wave_number == WAVE_FOUNDATION and crds and not self._opts.check_mode:
                self._wait_established(crds)

        if self._opts.prune:
            self._prune(existing, refs, report)
            self._record(parent, new_group_kinds, new_namespaces)
        if self._opts.wait and not self._opts.check_mode:
            self._wait_all(applied, report)
        return report
