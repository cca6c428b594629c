"""Live MariaDB Galera members for tests/galera_live: one member per network namespace.

What is real: Debian's mariadbd, the Galera library, mariabackup SST, socat, and the role's own
files as the rendered manifests carry them (galera-start.sh as the container command, the probes,
galera.cnf, the initdb script, backup.sh/restore.sh), with the environment and the volumes of the
rendered StatefulSet and CronJob. What stands in for Kubernetes: `ip netns` + veth + a bridge in a
namespace of its own (no address on the host), /etc/netns/<ns>/hosts for the member DNS names,
bind mounts in a private mount namespace for the volumes (tests/galera_live/container.sh), a
read-only root, and this module as kubelet (start, SIGKILL, SIGTERM, probes through nsenter) and
as the Services (the writer rule picks the member a client writes to; clients reach a member
through its socket in the run directory, the backup job through the member network). The
kubelet's probe periods are compressed (readiness every second with the rendered failure
threshold; liveness sampled by the scenarios). The image's docker-entrypoint.sh is replaced by
the stand-in in standin/ (see standin/README.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

import yaml

HERE = Path(__file__).resolve().parent
IMAGE = HERE / "standin"
CONTAINER = HERE / "container.sh"
PREFIX = "g17"
SWITCH = PREFIX + "-sw"
SUBNET = "10.217.17."
NAMESPACE = "mariadb"
STS = "mariadb-galera"
PEERS = STS + "-peers"
DOMAIN = "cluster.local"
INITDB_DIR = Path("/docker-entrypoint-initdb.d")

Obj = Dict[str, Any]


def run(argv: Sequence[str], check: bool = True, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=timeout, **kwargs)


def fqdn(name: str, service: str = PEERS) -> str:
    return "%s.%s.%s.svc.%s" % (name, service, NAMESPACE, DOMAIN) if service else "%s.%s.svc.%s" % (name, NAMESPACE, DOMAIN)


# -- the network: a bridge in its own namespace, one veth per namespace ------------------------


class Network:
    """Namespaces g17-<n> on a bridge inside g17-sw; addresses 10.217.17.x/24 exist only there."""

    def __init__(self) -> None:
        self.namespaces: List[str] = []

    @staticmethod
    def leftovers() -> List[str]:
        names = run(["ip", "netns", "list"]).stdout.split()
        return [n for n in names if n.startswith(PREFIX + "-")]

    def create_switch(self) -> None:
        run(["ip", "netns", "add", SWITCH])
        self.namespaces.append(SWITCH)
        run(["ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", SWITCH, "link", "set", "br0", "up"])

    def add(self, ns: str, address: str, hosts: Dict[str, str]) -> None:
        index = len(self.namespaces)
        run(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        port = "%sp%d" % (PREFIX, index)
        run(["ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "link", "set", port, "netns", SWITCH])
        run(["ip", "-n", SWITCH, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self.write_hosts(ns, hosts)

    @staticmethod
    def write_hosts(ns: str, hosts: Dict[str, str]) -> None:
        etc = Path("/etc/netns") / ns
        etc.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost"] + ["%s %s" % (ip, name) for name, ip in sorted(hosts.items())]
        (etc / "hosts").write_text("\n".join(lines) + "\n")

    @staticmethod
    def link(ns: str, up: bool) -> None:
        run(["ip", "-n", ns, "link", "set", "eth0", "up" if up else "down"])

    @staticmethod
    def pids(ns: str) -> List[int]:
        return [int(p) for p in run(["ip", "netns", "pids", ns], check=False).stdout.split() if p.isdigit()]

    @classmethod
    def kill_all(cls, ns: str, timeout: float = 20) -> None:
        """SIGKILL every process in the namespace and wait until none is left (a dying mariadbd
        may still write to its volumes for a moment)."""
        deadline = time.time() + timeout
        while True:
            left = cls.pids(ns)
            if not left or time.time() > deadline:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    @classmethod
    def destroy(cls, names: Sequence[str]) -> None:
        for ns in names:
            cls.kill_all(ns)
        for ns in names:
            run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)


# -- the rendered manifests -> what a container gets -----------------------------------------------


@dataclass
class Manifests:
    objects: List[Obj]

    @classmethod
    def load(cls, root: Path) -> "Manifests":
        objects = []
        for path in sorted((root / "apps" / "mariadb_galera").glob("*.yaml")):
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        return cls(objects)

    def get(self, kind: str, name: Optional[str] = None) -> Obj:
        found = [o for o in self.objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
        assert len(found) == 1, "expected one %s %s, found %d" % (kind, name, len(found))
        return found[0]

    def password(self, key: str) -> str:
        return str(self.get("Secret")["stringData"][key])


def pod_spec(workload: Obj) -> Obj:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def container_of(workload: Obj, name: str) -> Obj:
    return next(c for c in pod_spec(workload)["containers"] if c["name"] == name)


def container_env(container: Obj, pod_name: str, pod_ip: str) -> Dict[str, str]:
    """The container's environment as the kubelet builds it (downward API fields resolved); a
    variable taken from a Secret is refused: the passwords must come as files."""
    fields = {"metadata.name": pod_name, "metadata.namespace": NAMESPACE, "status.podIP": pod_ip}
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": pod_name, "LANG": "C.UTF-8"}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "fieldRef" in (item.get("valueFrom") or {}):
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError("%s takes %s from %s: the harness gives passwords only as files"
                                 % (container["name"], item["name"], item.get("valueFrom")))
    return env


def materialise_volumes(manifests: Manifests, workload: Obj, container: Obj, home: Path, claims: Dict[str, Path]) -> List[str]:
    """Host directories for the pod's volumes (ConfigMaps and Secrets written out with their modes,
    emptyDirs kept across container restarts, claims as given) and the MOUNTS lines of container.sh."""
    volumes = {v["name"]: v for v in pod_spec(workload).get("volumes") or []}
    lines = []
    for mount in container.get("volumeMounts") or []:
        name = mount["name"]
        volume = volumes.get(name, {})
        if name in claims:
            source = claims[name]
        elif "emptyDir" in volume:
            source = home / "empty" / name
            source.mkdir(parents=True, exist_ok=True)
            shutil.chown(source, "mysql", "mysql")
        elif "configMap" in volume or "secret" in volume:
            source = home / "volumes" / name
            if not source.exists():
                write_projected(manifests, volume, source)
        else:
            raise AssertionError("volume %s of %s: unsupported source %s" % (name, container["name"], volume))
        if mount.get("subPath"):
            source = source / mount["subPath"]
        lines.append("%s\t%s\t%s" % (source, mount["mountPath"], "ro" if mount.get("readOnly") else "rw"))
    return lines


def write_projected(manifests: Manifests, volume: Obj, target: Path) -> None:
    if "configMap" in volume:
        data = manifests.get("ConfigMap", volume["configMap"]["name"])["data"]
        mode = volume["configMap"].get("defaultMode", 0o644)
        items = volume["configMap"].get("items")
    else:
        data = manifests.get("Secret", volume["secret"]["secretName"])["stringData"]
        mode = volume["secret"].get("defaultMode", 0o644)
        items = volume["secret"].get("items")
    target.mkdir(parents=True)
    paths = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
    for key, path in paths.items():
        file = target / path
        file.write_text(str(data[key]))
        file.chmod(mode)
        # The kubelet gives the files to the pod's fsGroup (999 in the spec; Debian's mysql here).
        shutil.chown(file, "root", "mysql")
    target.chmod(0o755)


# -- one container (a member or a job) ----------------------------------------------------------


class Container:
    """A process tree in a namespace, started through container.sh; stdout+stderr to console.log
    (appended across restarts, one marker line per start)."""

    def __init__(self, ns: str, home: Path, env: Dict[str, str], mounts: List[str], command: List[str]) -> None:
        self.ns = ns
        self.home = home
        self.env = env
        self.mounts = mounts
        self.command = command
        self.process: Optional[subprocess.Popen] = None
        self.starts = 0
        self.console = home / "console.log"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "%s is running" % self.ns
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "mounts").write_text("\n".join(self.mounts) + "\n")
        (self.home / "environment").write_text("".join("%s=%s\n" % kv for kv in sorted(self.env.items())))
        self.starts += 1
        with self.console.open("a") as log:
            log.write("=== harness: start %d at %.3f ===\n" % (self.starts, time.time()))
        log = self.console.open("a")
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "/bin/bash", str(CONTAINER), str(self.home / "mounts"),
             str(self.home / "environment"), str(IMAGE), "--", *self.command],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to every process of the container (as when its node loses power)."""
        Network.kill_all(self.ns)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM to the container's first process and wait (a clean shutdown), SIGKILL after timeout."""
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        Network.kill_all(self.ns)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def exec(self, argv: Sequence[str], timeout: float = 20) -> subprocess.CompletedProcess:
        """Like kubectl exec / an exec probe: the container's mounts, network, user and environment."""
        if not self.running():
            return subprocess.CompletedProcess(list(argv), 126, "", "container not running")
        assert self.process is not None
        env = ["%s=%s" % kv for kv in sorted(self.env.items())]
        try:
            return run(["nsenter", "--target", str(self.process.pid), "--mount", "--net", "--",
                        "setpriv", "--reuid=mysql", "--regid=mysql", "--clear-groups", "--", "env", "-i", *env, *argv],
                       check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(list(argv), 124, "", "timeout")

    def last_start_log(self) -> str:
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        return text.rsplit("=== harness: start", 1)[-1]


class Member(Container):
    def __init__(self, index: int, manifests: Manifests, root: Path) -> None:
        self.index = index
        self.name = "%s-%d" % (STS, index)
        self.ip = SUBNET + str(10 + index)
        home = root / self.name
        sts = manifests.get("StatefulSet")
        spec = container_of(sts, "mariadb")
        data = home / "pvc" / "data"
        data.mkdir(parents=True, exist_ok=True)
        shutil.chown(data, "mysql", "mysql")
        mounts = materialise_volumes(manifests, sts, spec, home, {"data": data})
        super().__init__("%s-m%d" % (PREFIX, index), home, container_env(spec, self.name, self.ip), mounts, list(spec["command"]))
        self.data = data
        self.run_dir = home / "empty" / "run"
        self.root_password = manifests.password("root-password")
        self.probe_script = next(c for c in spec["readinessProbe"]["exec"]["command"] if c.endswith(".sh"))
        self.readiness_failure_threshold = int(spec["readinessProbe"].get("failureThreshold", 3))

    # what the kubelet asks
    def probe(self, kind: str) -> bool:
        return self.exec(["/bin/bash", self.probe_script, kind], timeout=10).returncode == 0

    def report(self) -> Obj:
        out = self.exec(["/bin/bash", self.probe_script, "report"]).stdout.strip().splitlines()
        return json.loads(out[-1]) if out and out[-1].startswith("{") else {}

    # a client on the member's socket (through its run directory, seen from the host)
    def sql(self, statement: str, database: str = "", timeout: float = 20) -> subprocess.CompletedProcess:
        argv = ["mariadb", "--no-defaults", "--socket=%s" % (self.run_dir / "mysqld.sock"), "-uroot", "-N", "-B"]
        if database:
            argv.append(database)
        try:
            return run(argv + ["-e", statement], check=False, timeout=timeout, env={"MYSQL_PWD": self.root_password, "PATH": os.environ["PATH"]})
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", "timeout")

    def status(self) -> Dict[str, str]:
        result = self.sql("SHOW GLOBAL STATUS LIKE 'wsrep%'", timeout=5)
        if result.returncode != 0:
            return {}
        return dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)

    def synced(self, size: int) -> bool:
        status = self.status()
        return (status.get("wsrep_local_state_comment") == "Synced" and status.get("wsrep_cluster_status") == "Primary"
                and status.get("wsrep_cluster_size") == str(size))

    def grastate(self) -> Dict[str, str]:
        path = self.data / "grastate.dat"
        text = path.read_text() if path.exists() else ""
        return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v and not k.startswith("#")}

    def published_state(self) -> List[str]:
        path = self.run_dir / "galera-state"
        return path.read_text().split() if path.exists() else []

    def transfer(self) -> str:
        """How the last start caught up: IST, SST, none (already at the group's position), or
        bootstrap; read from Galera's own log lines of that start."""
        log = self.last_start_log()
        if "--wsrep-new-cluster" in log and "starting mariadbd (bootstrap" in log:
            return "bootstrap"
        if re.search(r"IST received|Receiving IST: [1-9]", log) and "Proceeding with SST" not in log:
            return "IST"
        if re.search(r"Proceeding with SST|SST received|Running: 'wsrep_sst_mariabackup --role 'joiner'.*\n(?s:.*)Moving the backup", log):
            return "SST"
        if "Proceeding with SST" in log or "SST succeeded" in log:
            return "SST"
        if "State transfer required" not in log and "Shifting JOINED -> SYNCED" in log:
            return "none"
        return "unknown"


# -- the writer rule and a client writing through it ---------------------------------------------


class Writer:
    """Numbered rows inserted through the member the project's writer rule picks (galera_writer of
    plugins/filter/galera.py, fed with each member's readiness probe, as the elector does with
    the pods' Ready condition); an acknowledged row is one whose INSERT returned OK."""

    def __init__(self, members: List[Member], writer_rule: Callable[[List[Obj], Optional[str]], Optional[str]]) -> None:
        self.members = members
        self.rule = writer_rule
        self.current: Optional[str] = None
        self.history: List[tuple] = []
        self.acked: Set[int] = set()
        self.failed = 0
        self.next_id = 1
        self.lock = threading.Lock()
        self.paused = threading.Event()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self._elect, daemon=True), threading.Thread(target=self._write, daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopped.set()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout=30)

    def pause(self) -> None:
        self.paused.set()
        time.sleep(0.5)

    def resume(self) -> None:
        self.paused.clear()

    def _elect(self) -> None:
        # The kubelet's Ready condition: false after failureThreshold failed readiness probes in a
        # row, true after one success (the probe period is compressed to one second here).
        threshold = {m.name: m.readiness_failure_threshold for m in self.members}
        failures = {m.name: threshold[m.name] for m in self.members}
        while not self.stopped.is_set():
            for m in self.members:
                failures[m.name] = 0 if m.probe("ready") else failures[m.name] + 1
            pods = [{"name": m.name, "ready": failures[m.name] < threshold[m.name]} for m in self.members]
            writer = self.rule(pods, self.current)
            with self.lock:
                if writer != self.current:
                    self.history.append((time.time(), writer))
                    self.current = writer
            self.stopped.wait(1.0)

    def _write(self) -> None:
        by_name = {m.name: m for m in self.members}
        while not self.stopped.is_set():
            if self.paused.is_set() or self.current is None:
                self.stopped.wait(0.2)
                continue
            member = by_name[self.current]
            with self.lock:
                row = self.next_id
                self.next_id += 1
            result = member.sql("INSERT INTO harness.writes (id, member) VALUES (%d, '%s')" % (row, member.name), timeout=10)
            if result.returncode == 0:
                with self.lock:
                    self.acked.add(row)
            else:
                self.failed += 1
                self.stopped.wait(0.2)
            self.stopped.wait(0.05)


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


@dataclass
class Results:
    """Outcomes and figures of one run, written to JSON for docs/reports/galera-live.md."""

    path: Path
    data: Dict[str, Any] = field(default_factory=dict)

    def scenario(self, name: str) -> Dict[str, Any]:
        return self.data.setdefault("scenarios", {}).setdefault(name, {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
