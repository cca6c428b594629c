# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""Sizes and licences of the Atlassian Data Center roles, as pure functions.

- JVM sizes (`-Xmx2048m`, `2g`) and Kubernetes quantities (`4Gi`, `4G`, `4096Mi`) in MiB, so
  that a role can check its container memory against Atlassian's rule of thumb: at least
  1.5 x (maximum heap + reserved code cache).
- A plausibility check of a licence string: Atlassian licences are one base64 text (often
  wrapped over lines) that starts with ``AAA`` and carries the ``X02`` format marker near its
  end. This is a format check, not a validity check: only the application can verify a licence.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MIB = 1024 * 1024
_JVM = re.compile(r"^([0-9]+)([kKmMgGtT]?)$")
_JVM_FACTORS = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024 * 1024 * MIB}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_QUANTITY_FACTORS = {
    None: Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
# Shortest licence accepted: real Data Center and evaluation licences are several hundred characters.
LICENSE_MIN_LENGTH = 100
_LICENSE = re.compile(r"^AAA[A-Za-z0-9+/=]+X02[A-Za-z0-9+/=_]*$")


class SizeError(ValueError):
    """A size that is not a JVM size or a Kubernetes quantity."""


def jvm_mib(value: object) -> float:
    """A JVM memory size (as given to -Xmx: digits and an optional k, m, g or t) in MiB."""
    match = _JVM.match(str(value).strip())
    if not match:
        raise SizeError("%r is not a JVM size such as 2048m or 2g" % (value,))
    return int(match.group(1)) * _JVM_FACTORS[match.group(2).lower()] / MIB


def quantity_mib(value: object) -> float:
    """A Kubernetes memory quantity (binary or decimal suffix) in MiB."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise SizeError("%r is not a Kubernetes quantity such as 4Gi" % (value,))
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise SizeError(str(exc))
    return float(number * _QUANTITY_FACTORS[match.group(2)] / MIB)


def required_memory_mib(max_heap: object, code_cache: object, factor: float = 1.5) -> float:
    """Container memory Atlassian's sizing asks for: factor x (maximum heap + reserved code cache)."""
    return factor * (jvm_mib(max_heap) + jvm_mib(code_cache))


def license_problem(text: object) -> str:
    """Why `text` cannot be an Atlassian licence ('' when it looks like one). Never includes the text."""
    if not isinstance(text, str):
        return "it is a %s, not a string" % type(text).__name__
    compact = re.sub(r"\s+", "", text)
    if len(compact) < LICENSE_MIN_LENGTH:
        return "it has %d characters without spaces; an Atlassian licence has several hundred" % len(compact)
    if not _LICENSE.match(compact):
        return "it is not an Atlassian licence key (one base64 text starting with AAA and carrying the X02 marker)"
    return ""
