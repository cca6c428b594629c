"""JVM sizes, Kubernetes quantities and the licence plausibility check of the Atlassian roles
(module_utils/atlassian_sizes.py, filters orchestrate.platform.atlassian_*)."""

from __future__ import annotations

import pytest

from ansible_collections.orchestrate.platform.plugins.module_utils.atlassian_sizes import (
    SizeError,
    jvm_mib,
    license_problem,
    quantity_mib,
    required_memory_mib,
)

LICENSE_LIKE = "AAABkg0ODAoPeNp9kV1PgzAUhu/7K0i81" + "QmJ0YmFhbmVfbGljZW5zZQ" * 12 + "X02kl"


@pytest.mark.parametrize("text, mib", [("2048m", 2048), ("2g", 2048), ("2G", 2048), ("524288k", 512), ("1073741824", 1024), ("1t", 1024 * 1024)])
def test_jvm_sizes(text: str, mib: float) -> None:
    assert jvm_mib(text) == mib


@pytest.mark.parametrize("text, mib", [("4Gi", 4096), ("3840Mi", 3840), ("4G", 4e9 / 2 ** 20), ("1.5Gi", 1536), ("4096000k", 4096000e3 / 2 ** 20)])
def test_quantities(text: str, mib: float) -> None:
    assert quantity_mib(text) == pytest.approx(mib)


@pytest.mark.parametrize("text", ["2 GB", "lots", "2gb", "-1m", ""])
def test_bad_jvm_sizes_are_errors(text: str) -> None:
    with pytest.raises(SizeError):
        jvm_mib(text)


@pytest.mark.parametrize("text", ["4GB", "four", "4 Gi", ""])
def test_bad_quantities_are_errors(text: str) -> None:
    with pytest.raises(SizeError):
        quantity_mib(text)


def test_atlassians_rule_of_thumb() -> None:
    assert required_memory_mib("2048m", "512m") == 3840
    assert quantity_mib("4Gi") >= required_memory_mib("2048m", "512m")
    assert quantity_mib("3Gi") < required_memory_mib("2048m", "512m")


def test_a_licence_shaped_string_passes_even_wrapped_over_lines() -> None:
    assert license_problem(LICENSE_LIKE) == ""
    wrapped = "\n".join(LICENSE_LIKE[i:i + 76] for i in range(0, len(LICENSE_LIKE), 76))
    assert license_problem(wrapped) == ""


@pytest.mark.parametrize("text, reason", [
    ("my-licence", "characters"),
    ("changeme" * 40, "not an Atlassian licence"),
    (LICENSE_LIKE.replace("X02", "Y03"), "X02"),
    ("BBBB" + LICENSE_LIKE[4:], "AAA"),
    (LICENSE_LIKE[:60] + "!" + LICENSE_LIKE[60:], "not an Atlassian licence"),
    (12345, "not a string"),
])
def test_strings_that_are_no_licence_are_named_without_showing_them(text: object, reason: str) -> None:
    problem = license_problem(text)
    assert reason in problem
    assert str(text)[:20] not in problem
