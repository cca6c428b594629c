"""The postgresql role's bootstrap (roles/postgresql/files/bootstrap.sh running
bootstrap-database.sql once per database) against a real PostgreSQL from Debian's packages,
started by this module on 127.0.0.1 with a free port in a temporary directory.

The databases are the role's defaults (postgresql_databases). Checked: the owners are login
roles without further rights, each database has its owner, encoding and locale, PUBLIC's
CONNECT and TEMPORARY are revoked (another role cannot connect, the owner can, with the
password of its Secret file), a second run changes nothing (catalog and DDL log), an existing
password is never replaced, and a database made before with another collation stops the run.
The pvc target's dump script (backup.sh) runs against the same server: one dump per database
made as its owner, old dumps deleted, nothing deleted when a dump fails."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import yaml

from project import ROLES

FILES = ROLES / "postgresql" / "files"
DATABASES: List[Dict[str, str]] = yaml.safe_load((ROLES / "postgresql" / "defaults" / "main.yml").read_text())["postgresql_databases"]


def _bindir() -> Optional[Path]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


BINDIR = _bindir()
pytestmark = pytest.mark.skipif(
    BINDIR is None or shutil.which("localedef") is None,
    reason="PostgreSQL server binaries or localedef missing: scripts/install-system-deps.sh installs postgresql and locales")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A throwaway PostgreSQL: data, socket, locales and secret files under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.data = root / "data"
        self.log = root / "server.log"
        self.secrets = root / "secrets"
        self.locales = root / "locales"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.env = dict(os.environ, LOCPATH=str(self.locales), LC_ALL="C", PGHOST="127.0.0.1", PGPORT=str(self.port))
        self.process: Optional[subprocess.Popen] = None

    def as_user(self, argv: List[str]) -> List[str]:
        """Run as the postgres account when root (the server refuses to run as root)."""
        return ["runuser", "-u", self.user, "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> None:
        self.locales.mkdir()
        # The images' locales: C ships with glibc; en_US.UTF-8 is made from Debian's locale sources.
        for database in DATABASES:
            for locale in {database["lc_collate"], database["lc_ctype"]} - {"C", "POSIX"}:
                language, _, charmap = locale.partition(".")
                subprocess.run(["localedef", "-i", language, "-f", charmap, str(self.locales / locale)], check=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user)
        subprocess.run(self.as_user([str(BINDIR / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                                     "--auth-host=scram-sha-256", "--locale=C", "--encoding=UTF8"]),
                       check=True, env=self.env, stdout=subprocess.DEVNULL)
        # The superuser reaches the server over TCP with the password of its "Secret" (as the Job does).
        (self.data / "pg_hba.conf").write_text("host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.process = subprocess.Popen(
            self.as_user([str(BINDIR / "postgres"), "-D", str(self.data), "-c", "listen_addresses=127.0.0.1",
                          "-c", "port=%d" % self.port, "-c", "unix_socket_directories=%s" % self.root,
                          "-c", "log_statement=ddl", "-c", "logging_collector=off"]),
            env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))
        deadline = time.monotonic() + 30
        while subprocess.run(["pg_isready", "-q"], env=self.env).returncode != 0:
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "PostgreSQL did not start: " + self.log.read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def secret(self, name: str, username: str, password: str) -> None:
        directory = self.secrets / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "username").write_text(username)
        (directory / "password").write_text(password)

    def bootstrap(self) -> subprocess.CompletedProcess:
        """The Job's script with the role's SQL, the defaults' databases and the mounted Secrets."""
        listing = self.root / "databases"
        listing.write_text("".join("%s %s %s %s %s %s\n" % (d["name"], d["owner"], d["secret"], d["encoding"],
                                                             d["lc_collate"], d["lc_ctype"]) for d in DATABASES))
        env = dict(self.env, SQL_FILE=str(FILES / "bootstrap-database.sql"), DATABASES_FILE=str(listing),
                   SUPERUSER_DIR=str(self.secrets / "superuser"), SECRETS_DIR=str(self.secrets), WAIT_SECONDS="1")
        return subprocess.run(["bash", str(FILES / "bootstrap.sh")], env=env, capture_output=True, text=True, timeout=120)

    def query(self, sql: str, user: str = "postgres", database: str = "postgres", password: str = "") -> str:
        env = dict(self.env, PGPASSWORD=password) if password else self.env
        done = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", database, "-c", sql],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return done.stdout.strip()

    def catalog(self) -> str:
        """Everything the bootstrap may touch: roles (with their password hashes) and databases."""
        return self.query(
            "SELECT string_agg(r, E'\\n' ORDER BY r) FROM ("
            " SELECT format('%s %s %s %s %s %s', rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolpassword) AS r"
            " FROM pg_authid WHERE rolname !~ '^pg_'"
            " UNION ALL SELECT format('%s %s %s %s %s %s', datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding),"
            " datcollate, datctype, datacl) FROM pg_database) AS rows")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # Not under pytest's temporary directory: as root that is private to root, and the server
    # runs as the postgres account.
    root = Path(tempfile.mkdtemp(prefix="postgresql-bootstrap-"))
    root.chmod(0o755)
    server = Server(root)
    server.start()
    server.secret("superuser", "postgres", "unused-over-trust")
    for database in DATABASES:
        server.secret(database["secret"], database["owner"], "pw-%s-first" % database["owner"])
    if os.geteuid() == 0:
        subprocess.run(["chmod", "-R", "a+rX", str(root / "secrets")], check=True)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def first_run(server: Server) -> subprocess.CompletedProcess:
    done = server.bootstrap()
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_defaults_give_jira_and_confluence_their_own_owner() -> None:
    assert [(d["name"], d["owner"], d["secret"]) for d in DATABASES] == [
        ("jira", "jira", "jira-database"), ("confluence", "confluence", "confluence-database")]


def test_owners_are_login_roles_without_other_rights(server: Server, first_run: subprocess.CompletedProcess) -> None:
    for database in DATABASES:
        row = server.query("SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
                           " FROM pg_roles WHERE rolname = '%s'" % database["owner"])
        assert row == "t|f|f|f|f|f", (database["owner"], row)


def test_databases_have_their_owner_encoding_and_locale(server: Server, first_run: subprocess.CompletedProcess) -> None:
    for database in DATABASES:
        row = server.query("SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype"
                           " FROM pg_database WHERE datname = '%s'" % database["name"])
        assert row == "%s|UTF8|%s|%s" % (database["owner"], database["lc_collate"], database["lc_ctype"])
    assert server.query("SELECT datcollate FROM pg_database WHERE datname = 'jira'") == "C"


def test_public_cannot_connect_or_make_temporary_tables(server: Server, first_run: subprocess.CompletedProcess) -> None:
    for database in DATABASES:
        assert server.query("SELECT has_database_privilege('public', '%s', 'CONNECT'),"
                            " has_database_privilege('public', '%s', 'TEMPORARY')" % (database["name"], database["name"])) == "f|f"


def test_each_owner_reaches_only_its_own_database(server: Server, first_run: subprocess.CompletedProcess) -> None:
    jira, confluence = DATABASES
    assert server.query("SELECT current_user", user=jira["owner"], database=jira["name"],
                        password="pw-jira-first") == jira["owner"]
    with pytest.raises(RuntimeError, match="permission denied for database"):
        server.query("SELECT 1", user=confluence["owner"], database=jira["name"], password="pw-confluence-first")
    with pytest.raises(RuntimeError, match="password authentication failed"):
        server.query("SELECT 1", user=jira["owner"], database=jira["name"], password="wrong")


def test_second_run_changes_nothing(server: Server, first_run: subprocess.CompletedProcess) -> None:
    before, log_before = server.catalog(), server.log.read_text()
    second = server.bootstrap()
    assert second.returncode == 0, second.stdout + second.stderr
    assert server.catalog() == before
    new_log = server.log.read_text()[len(log_before):]
    assert "statement:" not in new_log, new_log
    assert "statement: CREATE DATABASE" in log_before and "statement: REVOKE CONNECT" in log_before


def test_an_existing_password_is_never_replaced(server: Server, first_run: subprocess.CompletedProcess) -> None:
    jira = DATABASES[0]
    server.secret(jira["secret"], jira["owner"], "pw-jira-other")
    try:
        done = server.bootstrap()
        assert done.returncode == 0, done.stderr
        assert server.query("SELECT 1", user=jira["owner"], database=jira["name"], password="pw-jira-first") == "1"
    finally:
        server.secret(jira["secret"], jira["owner"], "pw-jira-first")


def test_a_role_and_database_made_by_hand_are_brought_in_line(server: Server, first_run: subprocess.CompletedProcess) -> None:
    """A superuser-ish owner, another owner and PUBLIC access granted again are all corrected."""
    jira = DATABASES[0]
    server.query("ALTER ROLE %s CREATEDB NOLOGIN" % jira["owner"])
    server.query("ALTER DATABASE %s OWNER TO postgres" % jira["name"])
    server.query("GRANT CONNECT ON DATABASE %s TO PUBLIC" % jira["name"])
    done = server.bootstrap()
    assert done.returncode == 0, done.stderr
    assert server.query("SELECT rolcanlogin, rolcreatedb FROM pg_roles WHERE rolname = '%s'" % jira["owner"]) == "t|f"
    assert server.query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'" % jira["name"]) == jira["owner"]
    assert server.query("SELECT has_database_privilege('public', '%s', 'CONNECT')" % jira["name"]) == "f"


def test_a_database_with_another_collation_stops_the_run(server: Server, first_run: subprocess.CompletedProcess) -> None:
    confluence = DATABASES[1]
    server.query("ALTER DATABASE %s RENAME TO kept" % confluence["name"])
    server.query("CREATE DATABASE %s OWNER %s TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'" % (confluence["name"], confluence["owner"]))
    try:
        done = server.bootstrap()
        assert done.returncode != 0
        assert "database confluence exists with encoding UTF8, collation C, ctype C; wanted UTF8, en_US.UTF-8, en_US.UTF-8" in done.stderr
    finally:
        server.query("DROP DATABASE %s" % confluence["name"])
        server.query("ALTER DATABASE kept RENAME TO %s" % confluence["name"])


def run_backup(server: Server, directory: Path, retention_days: int = 7) -> subprocess.CompletedProcess:
    """The pvc target's dump script (roles/postgresql/files/backup.sh) as its CronJob runs it."""
    listing = server.root / "databases"
    env = dict(server.env, DATABASES_FILE=str(listing), SECRETS_DIR=str(server.secrets), BACKUP_DIR=str(directory),
               BACKUP_RETENTION_DAYS=str(retention_days))
    return subprocess.run(["bash", str(FILES / "backup.sh")], env=env, capture_output=True, text=True, timeout=120)


def test_backup_dumps_every_database_as_its_owner(server: Server, first_run: subprocess.CompletedProcess, tmp_path: Path) -> None:
    server.query("CREATE TABLE marker (note text)", user="jira", database="jira", password="pw-jira-first")
    server.query("INSERT INTO marker VALUES ('kept')", user="jira", database="jira", password="pw-jira-first")
    done = run_backup(server, tmp_path)
    assert done.returncode == 0, done.stderr
    dumps = sorted(p.name for p in tmp_path.iterdir())
    assert [name.split("-")[0] for name in dumps] == ["confluence", "jira"], dumps
    assert not [name for name in dumps if name.endswith(".partial")]
    listing = subprocess.run([str(BINDIR / "pg_restore"), "--list", str(next(tmp_path.glob("jira-*.dump")))],
                             capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public marker jira" in listing


def aged(path: Path, days: int) -> Path:
    path.write_text("dump")
    os.utime(path, (time.time() - days * 86400, time.time() - days * 86400))
    return path


def test_backup_deletes_dumps_older_than_the_retention(server: Server, first_run: subprocess.CompletedProcess, tmp_path: Path) -> None:
    old = aged(tmp_path / "jira-20200101T000000Z.dump", 30)
    recent = aged(tmp_path / "jira-20261130T000000Z.dump", 2)
    done = run_backup(server, tmp_path, retention_days=7)
    assert done.returncode == 0, done.stderr
    assert not old.exists() and recent.exists()
    assert len(list(tmp_path.glob("jira-*.dump"))) == 2 and len(list(tmp_path.glob("confluence-*.dump"))) == 1


def test_a_failed_dump_fails_the_job_and_deletes_nothing(server: Server, first_run: subprocess.CompletedProcess, tmp_path: Path) -> None:
    old = aged(tmp_path / "jira-20200101T000000Z.dump", 30)
    jira = DATABASES[0]
    server.secret(jira["secret"], jira["owner"], "not-the-password")
    try:
        done = run_backup(server, tmp_path, retention_days=7)
    finally:
        server.secret(jira["secret"], jira["owner"], "pw-jira-first")
    assert done.returncode != 0 and "password authentication failed" in done.stderr
    assert old.exists()
