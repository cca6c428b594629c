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


def test_an_unreachable_api_server_is_one_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    import pytest
    import yaml

    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_client import Client
    from ansible_collections.orchestrate.platform.plugins.module_utils.manifests_objects import ManifestError

    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:%d" % port}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    client = Client(str(kubeconfig), None, pool_size=1, timeout=5.0)
    with pytest.raises(ManifestError, match=r"cannot reach the API server at http://127.0.0.1:%d \(GET /api\)" % port):
        client.request("GET", "/api")
