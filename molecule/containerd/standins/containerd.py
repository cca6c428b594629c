#!/usr/bin/python3
"""Stand-in for the containerd @VERSION@ daemon, built by the molecule scenario: not containerd.

It answers `--version` like the release binary and, run as the service, reads the
configuration file the way the daemon does at start (an unparsable TOML file stops it),
tells systemd it is ready (the unit is Type=notify) and waits for SIGTERM.
"""

import os
import signal
import socket
import sys
import tomllib

VERSION = "@VERSION@"
CONFIG = "/etc/containerd/config.toml"


def notify_ready() -> None:
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def serve() -> int:
    try:
        with open(CONFIG, "rb") as handle:
            config = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as err:
        print(f"containerd stand-in: cannot load {CONFIG}: {err}", file=sys.stderr)
        return 1
    print(f"containerd stand-in {VERSION}: config version {config.get('version')}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    notify_ready()
    while True:
        signal.pause()


def main(argv: list[str]) -> int:
    if argv in (["--version"], ["-v"]):
        print(f"containerd github.com/containerd/containerd/v2 v{VERSION} molecule-stand-in")
        return 0
    if argv:
        print(f"containerd stand-in: unsupported arguments {argv}", file=sys.stderr)
        return 2
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
