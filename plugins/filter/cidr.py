# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""CIDR filters for preflight checks: pure functions on the standard `ipaddress` module, so the
collection needs neither ansible.utils' ipaddr nor netaddr (not installed here).

- orchestrate.platform.cidr_valid(value): a network in CIDR notation, host bits zero
- orchestrate.platform.cidr_overlaps(a, b): the two networks share an address
- orchestrate.platform.cidr_overlapping({name: cidr}): every overlapping pair, readable
- orchestrate.platform.host_port_valid(value): "host:port" (DNS name or IPv4) or "[IPv6]:port"
"""

from __future__ import annotations

import ipaddress
from itertools import combinations
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

def _network(value: Any) -> Optional[Network]:
    """The network of a strict CIDR string (host bits must be zero), or None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError:
        return None


def cidr_valid(value: Any) -> bool:
    """True when value is a network in CIDR notation such as 10.244.0.0/16 (host bits zero)."""
    return _network(value) is not None


def cidr_overlaps(first: str, second: str) -> bool:
    """True when the two CIDRs share at least one address; False when either is invalid."""
    a, b = _network(first), _network(second)
    if a is None or b is None or a.version != b.version:
        return False
    return a.overlaps(b)


def cidr_overlapping(networks: Mapping[str, Any]) -> List[str]:
    """Every pair of named, valid CIDRs that overlap, as readable strings; empty values are ignored."""
    named = [(name, value) for name, value in networks.items() if value]
    return [
        "%s (%s) and %s (%s)" % (name_a, value_a, name_b, value_b)
        for (name_a, value_a), (name_b, value_b) in combinations(named, 2)
        if cidr_overlaps(value_a, value_b)
    ]


def _dns_name(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(
        0 < len(label) <= 63
        and label[0].isalnum()
        and label[-1].isalnum()
        and all(ch.isalnum() or ch == "-" for ch in label)
        and label.isascii()
        for label in labels
    )


def host_port_valid(value: Any) -> bool:
    """True for "host:port" (DNS name or IPv4 address) or "[IPv6]:port", port 1-65535."""
    if not isinstance(value, str) or ":" not in value:
        return False
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        return False
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        return ":" not in host and not host.replace(".", "").isdigit() and _dns_name(host)


class FilterModule:
    """CIDR and endpoint checks."""

    def filters(self) -> Dict[str, Callable[..., Any]]:
        return {
            "cidr_valid": cidr_valid,
            "cidr_overlaps": cidr_overlaps,
            "cidr_overlapping": cidr_overlapping,
            "host_port_valid": host_port_valid,
        }
