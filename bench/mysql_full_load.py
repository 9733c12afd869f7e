"""MySQL -> MySQL full load: OpenDTS beside the destination's own bulk path.

Starts two throwaway MariaDB servers (source and destination), fills a sysbench-shaped table
(id INT AUTO_INCREMENT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60), index on k) with N rows, then:
  (a) copies it with OpenDTS (schema + full load, release build) and
  (b) dumps the same rows to a file and loads them with LOAD DATA LOCAL INFILE, the fastest path the
      destination offers (the physical limit on this machine).
Prints rows/s and MB/s for both, and the peak RSS of the OpenDTS process.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from rpc_client import RpcClient  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = os.environ.get("MARIADB_ROOT_PASSWORD", "opendts-root")


def sql(port, statement, db=None, delimiter=";"):
    cmd = ["mariadb", "--no-defaults", "--protocol=tcp", "-h127.0.0.1", f"-P{port}", "-uroot", "-N", "-B",
           "--local-infile=1", f"--delimiter={delimiter}", "-e", statement]
    if db:
        cmd.append(db)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "MYSQL_PWD": PASSWORD})
    return out.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def fill(port, rows):
    sql(port, "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest")
    sql(port, "CREATE TABLE sbtest1 (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0, "
              "c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k)) ENGINE=InnoDB", "sbtest")
    step = 200_000
    for start in range(0, rows, step):
        n = min(step, rows - start)
        # sysbench's shape: c is 11 groups of 11 digits, pad 5 groups, k random.
        sql(port, "INSERT INTO sbtest1 (k, c, pad) SELECT FLOOR(RAND() * %d), "
                  "CONCAT_WS('-', LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), "
                  "LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), "
                  "LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), "
                  "LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0')), "
                  "CONCAT_WS('-', LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), "
                  "LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0'), LPAD(FLOOR(RAND()*1e11), 11, '0')) "
                  "FROM seq_1_to_%d" % (rows, n), "sbtest")
    sql(port, "ANALYZE TABLE sbtest1", "sbtest")


def data_mb(port):
    # The bytes of the rows as they travel: 4 + 4 + length(c) + length(pad) per row.
    return float(sql(port, "SELECT SUM(8 + LENGTH(c) + LENGTH(pad)) / 1048576 FROM sbtest1", "sbtest").strip())


def run_opendts(binary, src, dst, workers, chunk_rows, batch_rows):
    data = tempfile.mkdtemp(prefix="opendts-bench-")
    port = free_port()
    key = json.loads(subprocess.check_output([binary, "accesskey", "create", "--data-dir", data, "--json"]))
    server = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
                               "--full-load-workers", str(workers), "--chunk-rows", str(chunk_rows),
                               "--batch-rows", str(batch_rows)], stderr=open(os.path.join(data, "server.log"), "w"))
    try:
        wait_port(port)
        c = RpcClient("127.0.0.1", port, key["AccessKeyId"], key["AccessKeySecret"])
        job = c.call("CreateDtsInstance", Type="MIGRATION", PayType="PostPaid")["JobId"]
        ep = lambda side, p: {f"{side}EndpointInstanceType": "OTHER", f"{side}EndpointEngineName": "MySQL",
                              f"{side}EndpointIP": "127.0.0.1", f"{side}EndpointPort": str(p),
                              f"{side}EndpointUserName": "root", f"{side}EndpointPassword": PASSWORD}
        c.call("ConfigureDtsJob", DtsJobId=job, DtsJobName="bench", JobType="MIGRATION",
               StructureInitialization="true", DataInitialization="true", DataSynchronization="false",
               DbList=json.dumps({"sbtest": {"name": "sbtest", "all": True}}), **ep("Source", src), **ep("Destination", dst))
        c.call("StartDtsJob", DtsJobId=job)
        while True:
            d = c.call("DescribeDtsJobDetail", DtsJobId=job)
            if d["DataInitializationStatus"]["Status"] == "Migrating":
                break
            if d["Status"] in ("Failed", "PrecheckFailed"):
                raise SystemExit(f"job failed: {d['ErrorMessage']}")
            time.sleep(0.02)
        started = time.time()
        while True:
            d = c.call("DescribeDtsJobDetail", DtsJobId=job)
            if d["Status"] == "Finished":
                break
            if d["Status"] == "Failed":
                raise SystemExit(f"job failed: {d['ErrorMessage']}")
            time.sleep(0.05)
        return time.time() - started, peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_load_data(src, dst):
    dump = tempfile.mktemp(prefix="sbtest-", suffix=".tsv")
    with open(dump, "w") as f:
        subprocess.run(["mariadb", "--no-defaults", "--protocol=tcp", "-h127.0.0.1", f"-P{src}", "-uroot", "-N", "-B",
                        "-e", "SELECT id, k, c, pad FROM sbtest1", "sbtest"], check=True, stdout=f,
                       env={**os.environ, "MYSQL_PWD": PASSWORD})
    sql(dst, "DROP DATABASE IF EXISTS sbtest_ld; CREATE DATABASE sbtest_ld")
    sql(dst, "CREATE TABLE sbtest1 (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL DEFAULT 0, "
             "c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k)) ENGINE=InnoDB", "sbtest_ld")
    started = time.time()
    sql(dst, f"LOAD DATA LOCAL INFILE '{dump}' INTO TABLE sbtest1", "sbtest_ld")
    elapsed = time.time() - started
    os.unlink(dump)
    return elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--bin", default=os.path.join(REPO, "target/release/opendts"))
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--chunk-rows", type=int, default=20_000)
    ap.add_argument("--batch-rows", type=int, default=1_000)
    ap.add_argument("--src-port", type=int, default=33071)
    ap.add_argument("--dst-port", type=int, default=33072)
    args = ap.parse_args()
    for port, sid in ((args.src_port, "11"), (args.dst_port, "12")):
        subprocess.run(["bash", os.path.join(REPO, "scripts/db/start-mariadb.sh"), str(port)], check=True,
                       env={**os.environ, "MARIADB_SERVER_ID": sid}, stdout=subprocess.DEVNULL)
    print(f"filling sbtest1 with {args.rows} rows ...", flush=True)
    fill(args.src_port, args.rows)
    mb = data_mb(args.src_port)
    sql(args.dst_port, "DROP DATABASE IF EXISTS sbtest; DROP DATABASE IF EXISTS opendts_meta")
    t_dts, rss = run_opendts(args.bin, args.src_port, args.dst_port, args.workers, args.chunk_rows, args.batch_rows)
    copied = int(sql(args.dst_port, "SELECT COUNT(*) FROM sbtest1", "sbtest").strip())
    assert copied == args.rows, f"copied {copied} of {args.rows} rows"
    t_ld = run_load_data(args.src_port, args.dst_port)
    print(f"rows: {args.rows}, data: {mb:.1f} MB")
    print(f"(a) OpenDTS full load : {t_dts:7.2f} s  {args.rows / t_dts:10.0f} rows/s  {mb / t_dts:7.1f} MB/s  peak RSS {rss:.0f} MiB")
    print(f"(b) LOAD DATA INFILE  : {t_ld:7.2f} s  {args.rows / t_ld:10.0f} rows/s  {mb / t_ld:7.1f} MB/s")
    print(f"OpenDTS / LOAD DATA   : {100.0 * t_ld / t_dts:.0f} %")


if __name__ == "__main__":
    main()
