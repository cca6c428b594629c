"""Prometheus durations and sizes and Kubernetes quantities as numbers (the monitoring preflight)."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrate.platform.plugins.filter.prometheus import prometheus_bytes, prometheus_seconds, quantity_bytes


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("1m", 60), ("1h30m", 5400), ("15d", 1296000), ("2w", 1209600),
                                           ("1y", 31536000), ("500ms", 0.5), ("1d12h", 129600)])
def test_durations(text: str, seconds: float) -> None:
    assert prometheus_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "15 days", "1m1h", "-5m", "0s", "1.5h", "30S"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        prometheus_seconds(text)


@pytest.mark.parametrize("text, size", [("512MB", 512 * 1024**2), ("45GB", 45 * 1024**3), ("1TB", 1024**4), ("100B", 100)])
def test_sizes(text: str, size: int) -> None:
    assert prometheus_bytes(text) == size


@pytest.mark.parametrize("text", ["45G", "45 GB", "GB", "45gb", "1.5GB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        prometheus_bytes(text)


@pytest.mark.parametrize("text, size", [("50Gi", 50 * 1024**3), ("10G", 10 * 1000**3), ("1500M", 1500 * 1000**2), ("1024", 1024)])
def test_quantities(text: str, size: int) -> None:
    assert quantity_bytes(text) == size


def test_a_retention_size_in_gb_is_compared_in_the_same_unit_as_gi() -> None:
    # Prometheus' GB are powers of 1024, like Kubernetes' Gi.
    assert prometheus_bytes("50GB") == quantity_bytes("50Gi")


@pytest.mark.parametrize("text", ["50 Gi", "50gi", "Gi", "1.5Gi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        quantity_bytes(text)
