"""Unit tests of plugins/filter/gce.py: the pure helpers behind the GCE infra roles."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.orchestrate.platform.plugins.filter import gce

ADMIN = ["198.51.100.7/32"]
HC = ["35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22"]
COMPUTE = "https://www.googleapis.com/compute/v1/projects/p"


def rules(**overrides):
    args = dict(
        cluster="demo",
        admin_cidrs=ADMIN,
        encapsulation="vxlan",
        health_check_ranges=HC,
        gateway_ports=[80, 443],
        gateway_health_check_port=30080,
        gateway_source_ranges=["0.0.0.0/0"],
    )
    args.update(overrides)
    return {r["name"]: r for r in gce.gce_firewall_rules(**args)}


def opened(rule):
    """(protocol, port) pairs a rule opens, ranges kept as written."""
    return sorted((a["ip_protocol"], p) for a in rule["allowed"] for p in (a.get("ports") or ["*"]))


# --- CIDRs -----------------------------------------------------------------------------------

def test_cidr_problems_accepts_valid_disjoint_networks():
    cidrs = {"platform_node_cidr": "10.240.0.0/24", "platform_pod_cidr": "10.244.0.0/16",
             "platform_service_cidr": "10.96.0.0/12", "gce_network_admin_cidrs": ADMIN}
    assert gce.gce_cidr_problems(cidrs, ["platform_node_cidr", "platform_pod_cidr", "platform_service_cidr"]) == []


@pytest.mark.parametrize("value", ["300.1.1.0/24", "10.0.0.1/24", "10.0.0.0/33", "not-a-cidr", ""])
def test_cidr_problems_names_the_variable_of_a_bad_value(value):
    problems = gce.gce_cidr_problems({"platform_pod_cidr": value})
    assert len(problems) == 1
    assert problems[0].startswith("platform_pod_cidr:")


def test_cidr_problems_checks_every_list_element():
    problems = gce.gce_cidr_problems({"gce_network_admin_cidrs": ["198.51.100.7/32", "198.51.100.0/8"]})
    assert problems == [problems[0]] and "gce_network_admin_cidrs" in problems[0] and "198.51.100.0/8" in problems[0]


def test_cidr_problems_reports_overlaps_by_name():
    problems = gce.gce_cidr_problems(
        {"platform_node_cidr": "10.0.0.0/16", "platform_pod_cidr": "10.0.128.0/17", "platform_service_cidr": "10.96.0.0/12"},
        ["platform_node_cidr", "platform_pod_cidr", "platform_service_cidr"])
    assert problems == ["platform_node_cidr (10.0.0.0/16) overlaps platform_pod_cidr (10.0.128.0/17)"]


# --- instance plan ---------------------------------------------------------------------------

def test_instance_plan_spreads_roles_round_robin_over_zones():
    zones = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
    plan = gce.gce_instance_plan("demo", zones, 3, 3, "e2-standard-4", "e2-standard-8")
    assert [(i["name"], i["role"], i["zone"], i["machine_type"]) for i in plan] == [
        ("demo-cp-1", "control-plane", "europe-west1-b", "e2-standard-4"),
        ("demo-cp-2", "control-plane", "europe-west1-c", "e2-standard-4"),
        ("demo-cp-3", "control-plane", "europe-west1-d", "e2-standard-4"),
        ("demo-worker-1", "worker", "europe-west1-b", "e2-standard-8"),
        ("demo-worker-2", "worker", "europe-west1-c", "e2-standard-8"),
        ("demo-worker-3", "worker", "europe-west1-d", "e2-standard-8"),
    ]


def test_instance_plan_wraps_around_fewer_zones():
    plan = gce.gce_instance_plan("demo", ["r1-a", "r1-b"], 3, 1, "m", "m")
    assert [i["zone"] for i in plan] == ["r1-a", "r1-b", "r1-a", "r1-a"]


def test_instance_plan_needs_zones():
    with pytest.raises(gce.GceFilterError):
        gce.gce_instance_plan("demo", [], 3, 3, "m", "m")


# --- firewall rule set -----------------------------------------------------------------------

def test_firewall_rules_exact_set_with_vxlan():
    r = rules()
    assert sorted(r) == sorted([
        "demo-fw-admin-ssh", "demo-fw-admin-api", "demo-fw-nodes-to-cp", "demo-fw-etcd-peers",
        "demo-fw-node-to-node", "demo-fw-hc-api", "demo-fw-hc-gateway", "demo-fw-gateway-clients"])
    assert opened(r["demo-fw-admin-ssh"]) == [("tcp", "22")]
    assert r["demo-fw-admin-ssh"]["source_ranges"] == ADMIN
    assert r["demo-fw-admin-ssh"]["target_tags"] == ["demo-node"]
    assert opened(r["demo-fw-admin-api"]) == [("tcp", "6443")]
    assert r["demo-fw-admin-api"]["source_ranges"] == ADMIN
    assert r["demo-fw-admin-api"]["target_tags"] == ["demo-control-plane"]
    assert opened(r["demo-fw-nodes-to-cp"]) == [("tcp", "10257"), ("tcp", "10259"), ("tcp", "2381"), ("tcp", "6443")]
    assert r["demo-fw-nodes-to-cp"]["source_tags"] == ["demo-node"]
    assert opened(r["demo-fw-etcd-peers"]) == [("tcp", "2379-2380")]
    assert r["demo-fw-etcd-peers"]["source_tags"] == ["demo-control-plane"]
    assert r["demo-fw-etcd-peers"]["target_tags"] == ["demo-control-plane"]
    assert opened(r["demo-fw-node-to-node"]) == [
        ("icmp", "*"), ("tcp", "10250"), ("tcp", "5473"), ("tcp", "9100"), ("udp", "4789")]
    assert r["demo-fw-node-to-node"]["source_tags"] == ["demo-node"]
    assert opened(r["demo-fw-hc-api"]) == [("tcp", "6443")]
    assert r["demo-fw-hc-api"]["source_ranges"] == sorted(HC)
    assert opened(r["demo-fw-hc-gateway"]) == [("tcp", "30080")]
    assert r["demo-fw-hc-gateway"]["source_ranges"] == sorted(HC)
    assert r["demo-fw-hc-gateway"]["target_tags"] == ["demo-worker"]
    assert opened(r["demo-fw-gateway-clients"]) == [("tcp", "443"), ("tcp", "80")]
    assert r["demo-fw-gateway-clients"]["target_tags"] == ["demo-worker"]


def test_firewall_rules_ipip_opens_bgp_and_protocol_4_instead_of_vxlan():
    node = rules(encapsulation="ipip")["demo-fw-node-to-node"]
    assert opened(node) == [("icmp", "*"), ("ipip", "*"), ("tcp", "10250"), ("tcp", "179"), ("tcp", "5473"), ("tcp", "9100")]
    assert ("udp", "4789") not in opened(node)
    assert ("tcp", "179") not in opened(rules()["demo-fw-node-to-node"])


def test_firewall_rules_open_nfs_only_from_the_nodes_to_the_nfs_vm():
    assert "demo-fw-nodes-to-nfs" not in rules()
    nfs = rules(nfs_vm=True)["demo-fw-nodes-to-nfs"]
    assert opened(nfs) == [("tcp", "2049")]
    assert nfs["source_tags"] == ["demo-node"] and nfs["target_tags"] == ["demo-nfs"] and "source_ranges" not in nfs


def test_firewall_rules_reject_unknown_encapsulation():
    with pytest.raises(gce.GceFilterError):
        rules(encapsulation="none")


def test_nothing_but_the_gateway_ports_is_open_to_the_world():
    world = ipaddress.IPv4Network("0.0.0.0/0")
    for name, rule in rules().items():
        # A GCE ingress rule without any source matches every address: never emit one.
        assert rule.get("source_ranges") or rule.get("source_tags"), name
        assert rule["direction"] == "INGRESS" and rule["target_tags"], name
        wide = [c for c in rule.get("source_ranges", []) if ipaddress.IPv4Network(c).prefixlen < 8 or
                ipaddress.IPv4Network(c) == world]
        if name == "demo-fw-gateway-clients":
            assert wide == ["0.0.0.0/0"] and opened(rule) == [("tcp", "443"), ("tcp", "80")]
        else:
            assert wide == [], name


def test_no_admin_rules_without_admin_cidrs_and_no_gateway_rule_without_sources():
    r = rules(admin_cidrs=[], gateway_source_ranges=[])
    assert "demo-fw-admin-ssh" not in r and "demo-fw-admin-api" not in r and "demo-fw-gateway-clients" not in r


def test_extra_node_ports_are_added_between_nodes_only():
    r = rules(extra_node_tcp_ports=[4240, "30000-30010"])
    assert ("tcp", "4240") in opened(r["demo-fw-node-to-node"])
    assert ("tcp", "30000-30010") in opened(r["demo-fw-node-to-node"])


# --- firewall plan ---------------------------------------------------------------------------

def api_rule(rule, network="demo-net", **changes):
    """The rule as gcp_compute_firewall_info returns it (camelCase, protocol names upper-cased by us)."""
    out = {
        "name": rule["name"], "direction": rule["direction"], "priority": rule["priority"],
        "network": "%s/global/networks/%s" % (COMPUTE, network),
        "allowed": [{"IPProtocol": a["ip_protocol"], **({"ports": a["ports"]} if a.get("ports") else {})}
                    for a in reversed(rule["allowed"])],
        "targetTags": list(reversed(rule["target_tags"])), "disabled": False,
        "selfLink": "%s/global/firewalls/%s" % (COMPUTE, rule["name"]),
    }
    if rule.get("source_ranges"):
        out["sourceRanges"] = list(reversed(rule["source_ranges"]))
    if rule.get("source_tags"):
        out["sourceTags"] = rule["source_tags"]
    out.update(changes)
    return out


def test_firewall_plan_keeps_matching_rules_in_api_form():
    desired = list(rules().values())
    plan = gce.gce_firewall_plan(desired, [api_rule(r) for r in desired], "demo-fw-", "demo-net")
    assert plan["create"] == [] and plan["replace"] == [] and plan["delete"] == []
    assert sorted(plan["keep"]) == sorted(r["name"] for r in desired)


def test_firewall_plan_creates_replaces_and_deletes_only_the_difference():
    desired = list(rules().values())
    by_name = {r["name"]: r for r in desired}
    existing = [api_rule(r) for r in desired if r["name"] != "demo-fw-admin-ssh"]
    existing = [api_rule(by_name["demo-fw-admin-api"], sourceRanges=["203.0.113.0/24"]) if e["name"] == "demo-fw-admin-api" else e
                for e in existing]
    existing.append({"name": "demo-fw-old", "network": "%s/global/networks/demo-net" % COMPUTE, "allowed": []})
    existing.append({"name": "someone-elses-rule", "network": "%s/global/networks/demo-net" % COMPUTE, "allowed": []})
    plan = gce.gce_firewall_plan(desired, existing, "demo-fw-", "demo-net")
    assert [r["name"] for r in plan["create"]] == ["demo-fw-admin-ssh"]
    assert [r["name"] for r in plan["replace"]] == ["demo-fw-admin-api"]
    assert plan["delete"] == ["demo-fw-old"]
    assert "someone-elses-rule" not in plan["keep"] + plan["delete"]


def test_firewall_plan_replaces_a_rule_on_another_network_or_with_a_protocol_number():
    rule = rules()["demo-fw-node-to-node"]
    assert gce.gce_firewall_plan([rule], [api_rule(rule, network="other")], "demo-fw-", "demo-net")["replace"]
    ipip = rules(encapsulation="ipip")["demo-fw-node-to-node"]
    numbered = api_rule(ipip)
    numbered["allowed"] = [dict(a, IPProtocol="4") if a["IPProtocol"] == "ipip" else a for a in numbered["allowed"]]
    assert gce.gce_firewall_plan([ipip], [numbered], "demo-fw-", "demo-net")["keep"] == [ipip["name"]]


# --- generic comparison ----------------------------------------------------------------------

def test_differs_compares_only_given_options_and_ignores_link_hosts_and_order():
    actual = {
        "name": "demo-api", "IPAddress": "192.0.2.10", "IPProtocol": "TCP", "ports": ["443", "80"],
        "loadBalancingScheme": "EXTERNAL", "networkTier": "PREMIUM",
        "backendService": "https://www.googleapis.com/compute/v1/projects/p/regions/r/backendServices/demo-api",
        "fingerprint": "abc",
    }
    desired = {
        "name": "demo-api", "ip_address": "192.0.2.10", "ip_protocol": "TCP", "ports": ["80", "443"],
        "load_balancing_scheme": "EXTERNAL", "network_tier": "PREMIUM",
        "backend_service": {"selfLink": "https://compute.googleapis.com/compute/v1/projects/p/regions/r/backendServices/demo-api"},
    }
    assert gce.gce_differs(actual, desired) is False
    assert gce.gce_differs(actual, dict(desired, ports=["443"])) is True
    assert gce.gce_differs(actual, dict(desired, ip_address="192.0.2.11")) is True
    assert gce.gce_differs({}, desired) is True


def test_differs_matches_nested_health_checks_and_backend_lists():
    hc = {"name": "demo-api-hc", "type": "HTTPS", "check_interval_sec": 5,
          "https_health_check": {"port": 6443, "request_path": "/readyz"}}
    actual = {"name": "demo-api-hc", "type": "HTTPS", "checkIntervalSec": 5,
              "httpsHealthCheck": {"port": 6443, "requestPath": "/readyz", "proxyHeader": "NONE"}}
    assert not gce.gce_differs(actual, hc)
    assert gce.gce_differs(actual, dict(hc, https_health_check={"port": 6443, "request_path": "/healthz"}))
    groups = ["%s/zones/r-%s/instanceGroups/demo-cp-r-%s" % (COMPUTE, z, z) for z in "bc"]
    bs = {"backends": [{"group": g, "balancing_mode": "CONNECTION"} for g in groups]}
    actual_bs = {"backends": [{"group": g, "balancingMode": "CONNECTION", "capacityScaler": 1} for g in reversed(groups)]}
    assert not gce.gce_differs(actual_bs, bs)
    assert gce.gce_differs({"backends": actual_bs["backends"][:1]}, bs)


# --- instance groups -------------------------------------------------------------------------

def instance(name, role, zone):
    zone_link = "%s/zones/%s" % (COMPUTE, zone)
    return {"name": name, "zone": zone_link, "labels": {"cluster": "demo", "role": role},
            "selfLink": "%s/instances/%s" % (zone_link, name)}


FRONTENDS = [
    {"name": "demo-api", "role": "control-plane", "group_prefix": "demo-cp-"},
    {"name": "demo-gateway", "role": "worker", "group_prefix": "demo-workers-"},
]


def test_instance_groups_one_per_role_and_zone_with_sync_flags():
    instances = [instance("demo-cp-1", "control-plane", "r1-b"), instance("demo-cp-2", "control-plane", "r1-c"),
                 instance("demo-worker-1", "worker", "r1-b"), instance("demo-worker-2", "worker", "r1-b")]
    existing = [{"name": "demo-cp-r1-b", "zone": "%s/zones/r1-b" % COMPUTE, "size": 1},
                {"name": "demo-workers-r1-b", "zone": "%s/zones/r1-b" % COMPUTE, "size": 1}]
    groups = {g["name"]: g for g in gce.gce_instance_groups(FRONTENDS, instances, existing)}
    assert sorted(groups) == ["demo-cp-r1-b", "demo-cp-r1-c", "demo-workers-r1-b"]
    assert groups["demo-cp-r1-b"]["sync"] is False
    assert groups["demo-cp-r1-c"]["sync"] is True                  # missing
    assert groups["demo-workers-r1-b"]["sync"] is True             # 1 member, 2 planned
    assert groups["demo-workers-r1-b"]["frontend"] == "demo-gateway"
    assert groups["demo-cp-r1-c"]["link"] == "%s/zones/r1-c/instanceGroups/demo-cp-r1-c" % COMPUTE
    assert groups["demo-workers-r1-b"]["instances"] == [
        "%s/zones/r1-b/instances/demo-worker-1" % COMPUTE, "%s/zones/r1-b/instances/demo-worker-2" % COMPUTE]


def test_api_groups_are_created_empty_and_their_members_left_to_the_cluster_stage():
    """The infra stage must not make a control-plane VM an API backend: a joining backend reaches
    itself through the load balancer's locally routed address."""
    frontends = [dict(FRONTENDS[0], members="cluster"), FRONTENDS[1]]
    instances = [instance("demo-cp-1", "control-plane", "r1-b"), instance("demo-cp-2", "control-plane", "r1-c"),
                 instance("demo-worker-1", "worker", "r1-b")]
    existing = [{"name": "demo-cp-r1-b", "zone": "%s/zones/r1-b" % COMPUTE, "size": 1}]
    groups = {g["name"]: g for g in gce.gce_instance_groups(frontends, instances, existing)}
    assert groups["demo-cp-r1-b"] == dict(groups["demo-cp-r1-b"], instances=[], sync=False)   # existing: untouched
    assert groups["demo-cp-r1-c"] == dict(groups["demo-cp-r1-c"], instances=[], sync=True)    # missing: created empty
    assert groups["demo-workers-r1-b"]["instances"] == ["%s/zones/r1-b/instances/demo-worker-1" % COMPUTE]


def test_api_groups_hold_exactly_the_members_the_cluster_stage_names():
    frontends = [dict(FRONTENDS[0], members="cluster")]
    instances = [instance("demo-cp-1", "control-plane", "r1-b"), instance("demo-cp-2", "control-plane", "r1-c"),
                 instance("demo-cp-3", "control-plane", "r1-c")]
    existing = [{"name": "demo-cp-r1-b", "zone": "%s/zones/r1-b" % COMPUTE, "size": 1},
                {"name": "demo-cp-r1-c", "zone": "%s/zones/r1-c" % COMPUTE, "size": 2}]
    groups = {g["name"]: g for g in gce.gce_instance_groups(frontends, instances, existing, ["demo-cp-1"])}
    assert groups["demo-cp-r1-b"]["instances"] == ["%s/zones/r1-b/instances/demo-cp-1" % COMPUTE]
    assert groups["demo-cp-r1-b"]["sync"] is False
    assert groups["demo-cp-r1-c"]["instances"] == [] and groups["demo-cp-r1-c"]["sync"] is True   # the joiners leave
    groups = {g["name"]: g for g in gce.gce_instance_groups(frontends, instances, existing, ["demo-cp-1", "demo-cp-2", "demo-cp-3"])}
    assert len(groups["demo-cp-r1-c"]["instances"]) == 2 and groups["demo-cp-r1-c"]["sync"] is False


@pytest.mark.parametrize("zone,labels", [
    ("projects/123456789/zones/europe-west1-b", {"topology.kubernetes.io/zone": "europe-west1-b", "topology.kubernetes.io/region": "europe-west1"}),
    ("us-central1-f", {"topology.kubernetes.io/zone": "us-central1-f", "topology.kubernetes.io/region": "us-central1"}),
])
def test_topology_labels_from_the_metadata_zone(zone, labels):
    assert gce.gce_topology_labels(zone) == labels


@pytest.mark.parametrize("zone", ["", "europe-west1", "projects/1/zones/", "b"])
def test_topology_labels_refuse_what_is_not_a_zone(zone):
    with pytest.raises(gce.GceFilterError):
        gce.gce_topology_labels(zone)


# --- IAM policies ----------------------------------------------------------------------------

SA = "serviceAccount:demo-nodes@p.iam.gserviceaccount.com"


def test_iam_policy_add_appends_to_existing_bindings_and_keeps_etag():
    policy = {"etag": "BwX", "version": 1, "bindings": [
        {"role": "roles/compute.storageAdmin", "members": ["user:a@example.com"]},
        {"role": "roles/compute.storageAdmin", "members": [SA], "condition": {"expression": "false"}},
    ]}
    roles = ["roles/compute.storageAdmin", "projects/p/roles/demo_pd_csi_attach"]
    assert gce.gce_iam_policy_missing(policy, SA, roles) == roles   # a conditional grant does not count
    new = gce.gce_iam_policy_add(policy, SA, roles)
    assert new["etag"] == "BwX"
    assert new["bindings"][0] == {"role": "roles/compute.storageAdmin", "members": ["user:a@example.com", SA]}
    assert new["bindings"][1]["condition"] == {"expression": "false"}
    assert new["bindings"][2] == {"role": "projects/p/roles/demo_pd_csi_attach", "members": [SA]}
    assert gce.gce_iam_policy_missing(new, SA, roles) == []
    assert policy["bindings"][0]["members"] == ["user:a@example.com"]  # input untouched


def test_iam_policy_remove_drops_the_member_and_empty_bindings():
    policy = {"etag": "x", "bindings": [{"role": "r1", "members": [SA]}, {"role": "r2", "members": [SA, "user:b@example.com"]}]}
    assert gce.gce_iam_policy_holds(policy, SA)
    new = gce.gce_iam_policy_remove(policy, SA)
    assert new == {"etag": "x", "bindings": [{"role": "r2", "members": ["user:b@example.com"]}]}
    assert not gce.gce_iam_policy_holds(new, SA)


def test_iam_policy_exact_revokes_the_disk_roles_a_narrowed_node_account_held():
    # The node account of an older run held storageAdmin and the attach role; now it gets only
    # the node roles, and everyone else's grants (and conditional ones) stay as they were.
    policy = {"etag": "e", "bindings": [
        {"role": "roles/compute.storageAdmin", "members": [SA]},
        {"role": "projects/p/roles/demo_pd_csi_attach", "members": [SA, "user:a@example.com"]},
        {"role": "roles/logging.logWriter", "members": ["user:a@example.com"]},
        {"role": "roles/owner", "members": [SA], "condition": {"expression": "false"}},
    ]}
    node_roles = ["roles/logging.logWriter", "roles/monitoring.metricWriter"]
    assert gce.gce_iam_policy_extra(policy, SA, node_roles) == ["projects/p/roles/demo_pd_csi_attach", "roles/compute.storageAdmin"]
    new = gce.gce_iam_policy_exact(policy, SA, node_roles)
    assert new["etag"] == "e"
    assert gce.gce_iam_policy_extra(new, SA, node_roles) == []
    assert gce.gce_iam_policy_missing(new, SA, node_roles) == []
    assert {"role": "projects/p/roles/demo_pd_csi_attach", "members": ["user:a@example.com"]} in new["bindings"]
    assert not [b for b in new["bindings"] if b["role"] == "roles/compute.storageAdmin"]
    assert {"role": "roles/logging.logWriter", "members": ["user:a@example.com", SA]} in new["bindings"]
    assert {"role": "roles/owner", "members": [SA], "condition": {"expression": "false"}} in new["bindings"]
    assert gce.gce_iam_policy_exact(new, SA, node_roles)["bindings"] == new["bindings"]


def test_filter_module_exports_every_helper():
    names = gce.FilterModule().filters()
    for name in ("gce_cidr_problems", "gce_instance_plan", "gce_firewall_rules", "gce_firewall_plan", "gce_differs",
                 "gce_instance_groups", "gce_iam_policy_missing", "gce_iam_policy_add", "gce_iam_policy_remove",
                 "gce_iam_policy_holds", "gce_iam_policy_extra", "gce_iam_policy_exact", "gce_self_link_names",
                 "gce_topology_labels"):
        assert callable(names[name])
