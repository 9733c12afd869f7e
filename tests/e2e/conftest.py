"""Fixtures for the OpenDTS end-to-end suite.

A fresh `opendts serve` per session (free port, temp data dir); AccessKeys made with the CLI; clients
for the new SDK (ACS3 and v2 signing), the old SDK and a raw signature-v1 client; a throwaway MariaDB
database per test and restricted users; PostgreSQL connection facts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dtsclient import SDK_KINDS, RawClient, make_client  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("OPENDTS_BIN", REPO / "target" / "debug" / "opendts"))

MYSQL_PORT = int(os.environ.get("OPENDTS_TEST_MYSQL_PORT", "33061"))
# A second MariaDB server: the destination of data-path tests.
MYSQL_TARGET_PORT = int(os.environ.get("OPENDTS_TEST_MYSQL_TARGET_PORT", "33062"))
MYSQL_ROOT_PASSWORD = os.environ.get("MARIADB_ROOT_PASSWORD", "opendts-root")
PG_PORT = int(os.environ.get("OPENDTS_TEST_PG_PORT", "54321"))
PG_PASSWORD = os.environ.get("POSTGRES_PASSWORD", "opendts-root")

# Everything secret the suite hands to the server; test_secrets greps for all of it at the end.
SECRETS: List[str] = [MYSQL_ROOT_PASSWORD, PG_PASSWORD]
# Data dirs and log files of every server the suite started.
SERVER_FILES: List[Path] = []


def remember_secret(s: str) -> str:
    if s not in SECRETS:
        SECRETS.append(s)
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------

@dataclass
class Server:
    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    extra_args: List[str] = field(default_factory=list)
    proc: Optional[subprocess.Popen] = None
    last_exit_code: Optional[int] = None

    def __post_init__(self):
        SERVER_FILES.extend([self.data_dir, self.log_path])

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        if not BIN.exists():
            pytest.exit(f"OpenDTS binary not found at {BIN}: build it (cargo build --workspace --bins) "
                        f"or set OPENDTS_BIN", returncode=2)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # Kafka endpoint on a free port: servers run side by side.
        cmd = [str(BIN), "serve", "--listen", self.endpoint, "--data-dir", str(self.data_dir),
               "--kafka-listen", "127.0.0.1:0", *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "RUST_BACKTRACE": "0"})
        log.close()
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"opendts serve exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"opendts serve did not listen on {self.endpoint} within {timeout}s; "
                                   f"log:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; SIGKILL (and return -9) if it does not exit in time."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.last_exit_code = -9
                self.proc = None
                return -9
        self.last_exit_code = self.proc.returncode
        self.proc = None
        return self.last_exit_code

    def restart(self) -> int:
        code = self.stop()
        # The port must be free again before the new process binds it.
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start()
        return code

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # AccessKeys, through the CLI (works while the server runs: shared store).
    def create_access_key(self, name: Optional[str] = None) -> "Tenant":
        cmd = [str(BIN), "accesskey", "create", "--data-dir", str(self.data_dir), "--json"]
        if name:
            cmd[3:3] = ["--name", name]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, f"accesskey create failed: {out.stderr}"
        line = [ln for ln in out.stdout.splitlines() if ln.strip().startswith("{")][-1]
        d = json.loads(line)
        remember_secret(d["AccessKeySecret"])
        return Tenant(self, d["AccessKeyId"], d["AccessKeySecret"])

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


@dataclass
class Tenant:
    server: Server
    ak: str
    secret: str

    def client(self, kind: str):
        return make_client(kind, self.server.port, self.ak, self.secret)

    @property
    def raw(self) -> RawClient:
        return RawClient(self.server.port, self.ak, self.secret)


def _new_server(tmp_path_factory, name: str, extra_args=None) -> Server:
    base = tmp_path_factory.mktemp(name)
    return Server(data_dir=base / "data", log_path=base / "server.log", extra_args=list(extra_args or []))


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = _new_server(tmp_path_factory, "opendts")
    s.start()
    yield s
    code = s.stop()
    if code not in (0, None):
        print(f"\nopendts serve exited with {code} after SIGTERM; log tail:\n{s.log_tail()}", file=sys.stderr)


@pytest.fixture
def server_factory(tmp_path_factory):
    """Starts extra, private servers (own port and data dir) for tests that restart them."""
    started: List[Server] = []

    def make(extra_args=None) -> Server:
        s = _new_server(tmp_path_factory, "private", extra_args)
        s.start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def tenant(server) -> Tenant:
    """The default AccessKey of the session."""
    return server.create_access_key("e2e-default")


@pytest.fixture
def new_tenant(server):
    """A fresh AccessKey (an empty tenant) per call: tests that count jobs use their own."""
    def make(name: str = "e2e") -> Tenant:
        return server.create_access_key(name)
    return make


@pytest.fixture(params=SDK_KINDS)
def client(request, tenant):
    """Each lifecycle basic runs once per official SDK flavour."""
    return tenant.client(request.param)


@pytest.fixture
def sdk(tenant):
    return tenant.client("sdk-acs3")


@pytest.fixture
def sdk_v2(tenant):
    return tenant.client("sdk-v2")


@pytest.fixture
def old_sdk(tenant):
    return tenant.client("sdk-old")


@pytest.fixture
def raw(tenant) -> RawClient:
    return tenant.raw


# --------------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------------

def _need_bin(name: str):
    if shutil.which(name) is None:
        pytest.skip(f"{name} client not installed")


def mysql_exec(sql: str, user: str = "root", password: str = MYSQL_ROOT_PASSWORD, db: Optional[str] = None,
               check: bool = True, port: int = MYSQL_PORT) -> subprocess.CompletedProcess:
    _need_bin("mariadb")
    cmd = ["mariadb", "--no-defaults", "--protocol=tcp", "-h127.0.0.1", f"-P{port}", f"-u{user}",
           "-N", "-B", "-e", sql]
    if db:
        cmd.append(db)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={**os.environ, "MYSQL_PWD": password})
    if check and out.returncode != 0:
        raise RuntimeError(f"mariadb failed ({out.returncode}): {out.stderr.strip()} -- SQL: {sql}")
    return out


@dataclass
class MySql:
    host: str
    port: int
    user: str
    password: str


@pytest.fixture(scope="session")
def mysql() -> MySql:
    if not port_open(MYSQL_PORT):
        pytest.skip(f"no MariaDB on 127.0.0.1:{MYSQL_PORT} (scripts/db/start-mariadb.sh {MYSQL_PORT})")
    return MySql("127.0.0.1", MYSQL_PORT, "root", MYSQL_ROOT_PASSWORD)


@pytest.fixture(scope="session")
def mysql_target() -> MySql:
    """The destination MariaDB server of data-path tests."""
    if not port_open(MYSQL_TARGET_PORT):
        pytest.skip(f"no MariaDB on 127.0.0.1:{MYSQL_TARGET_PORT} (scripts/db/start-mariadb.sh {MYSQL_TARGET_PORT})")
    return MySql("127.0.0.1", MYSQL_TARGET_PORT, "root", MYSQL_ROOT_PASSWORD)


@pytest.fixture
def mysql_db(mysql) -> str:
    """A fresh database `t_<random>` with one small table; dropped (with `<db>_copy`) afterwards."""
    name = "t_" + secrets.token_hex(5)
    mysql_exec(f"CREATE DATABASE `{name}`; "
               f"CREATE TABLE `{name}`.`customer` (id INT PRIMARY KEY, name VARCHAR(64)); "
               f"INSERT INTO `{name}`.`customer` VALUES (1,'a'),(2,'b'),(3,'c');")
    yield name
    mysql_exec(f"DROP DATABASE IF EXISTS `{name}`; DROP DATABASE IF EXISTS `{name}_copy`;", check=False)


@pytest.fixture
def mysql_user(mysql):
    """Makes restricted MariaDB users: make(grants_sql_fmt) -> (user, password). Dropped afterwards.

    `grants` is a list of GRANT statements with `{user}` where the account goes, e.g.
    ["GRANT SELECT ON db.* TO {user}"].
    """
    made = []

    def make(grants=()):
        user = "u_" + secrets.token_hex(4)
        password = remember_secret("Pw-" + secrets.token_urlsafe(12))
        acct = f"'{user}'@'%'"
        sql = f"CREATE USER {acct} IDENTIFIED BY '{password}';"
        for g in grants:
            sql += g.format(user=acct) + ";"
        mysql_exec(sql)
        made.append(acct)
        return user, password

    yield make
    for acct in made:
        mysql_exec(f"DROP USER IF EXISTS {acct};", check=False)


@dataclass
class Pg:
    host: str
    port: int
    user: str
    password: str
    database: str


def pg_exec(sql: str, db: str = "postgres", check: bool = True) -> subprocess.CompletedProcess:
    """Runs SQL with psql as the superuser; stdout holds unaligned, tuples-only output."""
    _need_bin("psql")
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", db, "-X", "-q",
                          "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, env={**os.environ, "PGPASSWORD": PG_PASSWORD}, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"psql failed ({out.returncode}): {out.stderr.strip()}\nSQL: {sql[:500]}")
    return out


def pg_drop_database(name: str) -> None:
    """Drops a test database and any replication slot in it (a failed test may leave a job's slot behind,
    still held by a server that has not stopped yet): slots keep WAL forever, so none may outlive a test."""
    pg_exec(f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '{name}' AND active",
            check=False)
    for _ in range(20):
        out = pg_exec(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{name}' "
                      "AND NOT active; SELECT count(*) FROM pg_replication_slots WHERE database = '" + name + "'",
                      check=False)
        if out.returncode == 0 and out.stdout.strip().endswith("0"):
            break
        pg_exec(f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '{name}' AND active",
                check=False)
        time.sleep(0.25)
    pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)


@pytest.fixture(scope="session")
def pg() -> Pg:
    if not port_open(PG_PORT):
        pytest.skip(f"no PostgreSQL on 127.0.0.1:{PG_PORT} (scripts/db/start-postgres.sh {PG_PORT})")
    return Pg("127.0.0.1", PG_PORT, "postgres", PG_PASSWORD, "postgres")


# --------------------------------------------------------------------------------------------
# Ordering: the secrets test greps what everything else left behind, so it runs last.
# --------------------------------------------------------------------------------------------

def pytest_collection_modifyitems(session, config, items):
    last = [it for it in items if it.nodeid.split("::")[0].endswith("test_secrets.py")]
    rest = [it for it in items if it not in last]
    items[:] = rest + last
