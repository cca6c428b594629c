"""Unit tests of plugins/filter/cidr.py (the preflight CIDR and endpoint checks)."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.cidr import (
    FilterModule,
    cidr_overlapping,
    cidr_overlaps,
    cidr_valid,
    host_port_valid,
)


@pytest.mark.parametrize("value", ["10.244.0.0/16", "10.96.0.0/12", "192.168.1.0/24", "fd00::/64", "0.0.0.0/0"])
def test_valid_cidrs(value: str) -> None:
    assert cidr_valid(value)


@pytest.mark.parametrize("value", ["10.244.0.1/16", "10.244.0.0", "10.244.0.0/33", "banana/8", "", None, 16, "300.1.0.0/16"])
def test_invalid_cidrs(value: object) -> None:
    assert not cidr_valid(value)


def test_overlap_of_nested_and_disjoint_networks() -> None:
    assert cidr_overlaps("10.0.0.0/8", "10.244.0.0/16")
    assert cidr_overlaps("10.244.0.0/16", "10.0.0.0/8")
    assert not cidr_overlaps("10.244.0.0/16", "10.96.0.0/12")
    assert not cidr_overlaps("10.244.0.0/16", "fd00::/64")
    assert not cidr_overlaps("10.244.0.0/16", "not-a-cidr")


def test_overlapping_names_every_pair_and_ignores_empty_values() -> None:
    result = cidr_overlapping({"pod": "10.0.0.0/8", "service": "10.96.0.0/12", "node": "10.10.0.0/16", "unset": ""})
    assert result == [
        "pod (10.0.0.0/8) and service (10.96.0.0/12)",
        "pod (10.0.0.0/8) and node (10.10.0.0/16)",
    ]
    assert cidr_overlapping({"pod": "10.244.0.0/16", "service": "10.96.0.0/12", "node": "10.10.0.0/16"}) == []


@pytest.mark.parametrize("value", ["api.example.com:6443", "10.0.0.10:6443", "[fd00::1]:443", "localhost:1"])
def test_valid_endpoints(value: str) -> None:
    assert host_port_valid(value)


@pytest.mark.parametrize(
    "value",
    ["api.example.com", "api.example.com:0", "api.example.com:70000", ":6443", "10.0.0.300:6443", "fd00::1:6443", "a_b.example:6443", "", None],
)
def test_invalid_endpoints(value: object) -> None:
    assert not host_port_valid(value)


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {"cidr_valid", "cidr_overlaps", "cidr_overlapping", "host_port_valid"}
