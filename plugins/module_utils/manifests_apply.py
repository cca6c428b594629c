# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Apply a role's objects to a cluster: server-side apply in waves, prune, wait.

One run:
1. in one round of concurrent reads: the role's ApplySet parent and its current members (one
   LIST per group-kind the role renders; discovery, when no earlier task handed it over, is read
   in the same round); these listings are both the "before" state and the prune candidates.
   Group-kinds only the parent records (the role stopped rendering them) are listed after it;
2. record the union of old and new group-kinds/namespaces on the parent, so an interrupted
   run never orphans objects;
3. server-side apply the objects wave by wave (see manifests_objects), each wave concurrently,
   skipping the objects whose owned fields already hold the rendered values (manifests_fields.
   apply_is_noop), so a role with nothing to change only reads; CRDs are awaited until
   Established before their custom resources are applied; with `wait`, workloads are awaited
   before custom resources and admission hooks;
4. delete members that are no longer rendered (never PVCs, Namespaces only when asked);
5. record the final group-kinds/namespaces on the parent;
6. with `wait`, wait until every Deployment/StatefulSet/DaemonSet/Job is ready.

An object counts as changed only when a field the engine's field manager owns (or owned)
differs between before and after (manifests_fields), so status writes by controllers and
managed-fields bookkeeping never make a re-run report `changed`.

A workload that a rendered HorizontalPodAutoscaler scales gets `spec.replicas` only when it is
created; afterwards the engine leaves the field to the autoscaler. While the engine still owns
it (the autoscaler has not written it yet), it first hands the current value to a field manager
of its own (`<manager>-replicas-handover`, applied without force, so a value the autoscaler has
just written wins) and then applies without the field: the replica count never jumps to the
default, as the Kubernetes documentation on server-side apply describes for this handover.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple, TypeVar

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
    apply_is_noop,
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
Identity = Tuple[str, str, str, str]
SCALED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet"})


def autoscaled(objects: Iterable[Obj]) -> FrozenSet[Identity]:
    """Identities of the workloads that a HorizontalPodAutoscaler among `objects` scales."""
    out = set()
    for obj in objects:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            continue
        target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        group = str(target.get("apiVersion") or "").rpartition("/")[0]
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        if target.get("kind") and target.get("name"):
            out.add((group, str(target["kind"]), namespace, str(target["name"])))
    return frozenset(out)


def without_replicas(obj: Obj) -> Obj:
    """A shallow copy of a workload without spec.replicas."""
    out = dict(obj)
    out["spec"] = {key: value for key, value in (obj.get("spec") or {}).items() if key != "replicas"}
    return out


def owns_replicas(obj: Optional[Obj], manager: str) -> bool:
    return "f:replicas" in (manager_fields(obj, manager).get("f:spec") or {})


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
        self._autoscaled: FrozenSet[Identity] = frozenset()

    @property
    def discovery(self) -> Discovery:
        return self._discovery

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

    def _read_state(self, group_kinds: Iterable[str]) -> Tuple[Optional[Obj], Dict[Identity, Obj]]:
        """The parent and the members, read concurrently: the group-kinds the role renders now are
        listed together with the parent; those only the parent records are listed after it."""
        parent_future = self._pool.submit(self._get_parent)
        wanted = sorted(set(group_kinds))
        listings = {gk: self._pool.submit(self._list_members, gk) for gk in wanted}
        parent = parent_future.result()
        for gk in sorted(recorded(parent).group_kinds - set(wanted)):
            listings[gk] = self._pool.submit(self._list_members, gk)
        errors: List[str] = []
        members: Dict[Identity, Obj] = {}
        for future in listings.values():
            try:
                members.update((Ref.of(item).identity(), item) for item in future.result())
            except ManifestError as exc:
                errors.append(str(exc))
        if errors:
            raise ManifestError("listing the current objects failed: " + "; ".join(errors))
        return parent, members

    # -- apply ---------------------------------------------------------------------------

    def _hand_over_replicas(self, resource: Resource, ref: Ref, before: Obj) -> None:
        """Let a field manager of our own share spec.replicas at its live value, so that applying
        without the field does not reset it; a conflict means the autoscaler owns it already."""
        body = {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "metadata": {"name": ref.name, "namespace": ref.namespace} if ref.namespace else {"name": ref.name},
            "spec": {"replicas": (before.get("spec") or {}).get("replicas")},
        }
        query = {"fieldManager": self._opts.field_manager + "-replicas-handover", "force": "false"}
        try:
            self._client.request("PATCH", resource.path(ref.namespace, ref.name), query, body, APPLY_PATCH)
        except ApiError as exc:
            if exc.status != 409:
                raise ManifestError("%s: handing spec.replicas over failed: %s" % (ref, exc))

    def _body(self, obj: Obj, before: Optional[Obj], resource: Resource, ref: Ref) -> Tuple[Obj, str]:
        """What to apply for obj, and a note; an autoscaled workload that exists goes without spec.replicas."""
        if before is None or ref.identity() not in self._autoscaled or "replicas" not in (obj.get("spec") or {}):
            return obj, ""
        note = "spec.replicas left to the HorizontalPodAutoscaler"
        if not owns_replicas(before, self._opts.field_manager):
            return without_replicas(obj), note
        if self._opts.check_mode:
            # What the real run ends with: the live value kept, under the handover manager.
            held = dict(obj)
            held["spec"] = dict(obj["spec"], replicas=(before.get("spec") or {}).get("replicas"))
            return held, note
        self._hand_over_replicas(resource, ref, before)
        return without_replicas(obj), note

    def _apply_one(self, obj: Obj, before: Optional[Obj]) -> Tuple[Outcome, Optional[Obj]]:
        ref = Ref.of(obj)
        manager = self._opts.field_manager
        if before is not None and ref.identity() in self._autoscaled and "replicas" in (obj.get("spec") or {}):
            if not owns_replicas(before, manager) and apply_is_noop(without_replicas(obj), before, manager):
                return Outcome(ref, "unchanged"), before
        elif apply_is_noop(obj, before, manager):
            return Outcome(ref, "unchanged"), before
        resource = self._discovery.find(ref.group, ref.version, ref.kind)
        if resource is None:
            if self._opts.check_mode:
                return Outcome(ref, "created", "its API is not served yet (CRD created by this run)"), None
            raise ManifestError("%s: the API server does not serve %s %s" % (ref, ref.api_version, ref.kind))
        if resource.namespaced and not ref.namespace:
            raise ManifestError("%s: %s is namespaced, set metadata.namespace" % (ref, ref.kind))
        body, note = self._body(obj, before, resource, ref)
        force = "true" if self._opts.force_conflicts else "false"
        try:
            after = self._client.request(
                "PATCH", resource.path(ref.namespace, ref.name), self._query(force=force), body, APPLY_PATCH
            )
        except ApiError as exc:
            if self._opts.check_mode and exc.status == 404:
                return Outcome(ref, "created", "its namespace does not exist yet"), None
            raise ManifestError("%s: %s" % (ref, exc))
        if before is None:
            action = "created" if len((after.get("metadata") or {}).get("managedFields") or []) <= 1 else "configured"
        else:
            action = "configured" if owned_change(before, after, manager) else "unchanged"
        outcome = Outcome(ref, action, note if action != "unchanged" else "")
        if self._opts.want_diff and outcome.changed:
            outcome.diff = diff_entry(ref, before, after, manager)
        return outcome, after

    def _apply_wave(
        self, wave: List[Obj], existing: Dict[Identity, Obj], report: Report
    ) -> List[Obj]:
        results, errors = self._parallel(lambda obj: self._apply_one(obj, existing.get(Ref.of(obj).identity())), wave)
        report.outcomes.extend(outcome for outcome, _ in results)
        if errors:
            raise ApplyFailed("applying failed for %d object(s): %s" % (len(errors), "; ".join(errors)), report)
        return [after for _, after in results if after is not None]

    def _applied_crds(self, wave: List[Obj], existing: Dict[Identity, Obj]) -> List[Obj]:
        """The CRDs of a wave that this run wrote (those it skipped are served as they were)."""
        crds = [obj for obj in wave if obj.get("kind") == "CustomResourceDefinition"]
        return [crd for crd in crds if not apply_is_noop(crd, existing.get(Ref.of(crd).identity()), self._opts.field_manager)]

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

    def _prune(self, existing: Dict[Identity, Obj], desired: List[Ref], report: Report) -> None:
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

        self._autoscaled = autoscaled(desired)

        new_group_kinds = {ref.group_kind for ref in refs}
        new_namespaces = {ref.namespace for ref in refs}
        parent, existing = self._read_state(new_group_kinds)
        old = recorded(parent)
        parent = self._record(parent, old.group_kinds | new_group_kinds, old.namespaces | new_namespaces)

        applied: List[Obj] = []
        for wave_number, wave in group_into_waves(desired):
            if wave_number == WAVE_EXTENSIONS and self._opts.wait and not self._opts.check_mode:
                self._wait_all(applied, report)
            applied.extend(self._apply_wave(wave, existing, report))
            if wave_number == WAVE_FOUNDATION and not self._opts.check_mode:
                self._wait_established(self._applied_crds(wave, existing))

        if self._opts.prune:
            self._prune(existing, refs, report)
            self._record(parent, new_group_kinds, new_namespaces)
        if self._opts.wait and not self._opts.check_mode:
            self._wait_all(applied, report)
        return report
