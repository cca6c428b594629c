# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Prometheus and Kubernetes sizes and durations as numbers, for the monitoring role's checks.

- orchestrate.platform.prometheus_seconds(text): a Prometheus duration (1h30m, 15d, 500ms) in seconds
- orchestrate.platform.prometheus_bytes(text): a Prometheus size (45GB, 512MB; powers of 1024) in bytes
- orchestrate.platform.quantity_bytes(text): a Kubernetes storage quantity (50Gi, 10G, 1500M) in bytes

Each raises a ValueError naming the bad text, so that a preflight assertion fails clearly.
"""

from __future__ import annotations

import re
from typing import Any, Dict

# Units Prometheus accepts in a duration, largest first (model.ParseDuration).
_DURATION_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION = re.compile(r"^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$")
# Prometheus sizes (units.Base2Bytes): B, KB, MB, ... are powers of 1024.
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4, "PB": 1024**5, "EB": 1024**6}
_SIZE = re.compile(r"^([0-9]+)(B|KB|MB|GB|TB|PB|EB)$")
_QUANTITY_UNITS = {
    "": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "P": 1000**5, "E": 1000**6,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4, "Pi": 1024**5, "Ei": 1024**6,
}
_QUANTITY = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def prometheus_seconds(text: Any) -> float:
    """Seconds of a Prometheus duration; a zero or malformed duration is an error."""
    match = _DURATION.match(str(text))
    if not str(text) or not match:
        raise ValueError("%r is not a Prometheus duration (such as 30s, 1h30m or 15d)" % (text,))
    seconds = sum(int(value) * factor for value, factor in zip(match.groups(), _DURATION_UNITS.values()) if value)
    if seconds <= 0:
        raise ValueError("%r is not a positive Prometheus duration" % (text,))
    return seconds


def prometheus_bytes(text: Any) -> int:
    """Bytes of a Prometheus size such as 45GB."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError("%r is not a Prometheus size (such as 512MB or 45GB)" % (text,))
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def quantity_bytes(text: Any) -> int:
    """Bytes of a Kubernetes storage quantity such as 50Gi."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError("%r is not a Kubernetes storage quantity (such as 10Gi)" % (text,))
    return int(match.group(1)) * _QUANTITY_UNITS[match.group(2) or ""]


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {
            "prometheus_seconds": prometheus_seconds,
            "prometheus_bytes": prometheus_bytes,
            "quantity_bytes": quantity_bytes,
        }
