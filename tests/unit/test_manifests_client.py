"""Response decoding and resource paths of the engine's API client."""

from __future__ import annotations

from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Resource, _decode


def test_plain_text_error_bodies_do_not_break_decoding() -> None:
    assert _decode(b"404 page not found\n") is None
    assert _decode(b"") is None
    assert _decode(b'{"kind": "Status", "message": "gone"}') == {"kind": "Status", "message": "gone"}


def test_resource_paths() -> None:
    core = Resource("", "v1", "ConfigMap", "configmaps", True)
    assert core.path("web", "settings") == "/api/v1/namespaces/web/configmaps/settings"
    assert core.path() == "/api/v1/configmaps"
    crd = Resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", True)
    assert crd.path("wordpress") == "/apis/gateway.networking.k8s.io/v1/namespaces/wordpress/httproutes"
