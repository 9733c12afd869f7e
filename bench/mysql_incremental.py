"""MySQL -> MySQL incremental apply: OpenDTS beside MariaDB's own replication, on the same backlog.

Starts three throwaway MariaDB servers: a source, a destination for OpenDTS and a native replica
(CHANGE MASTER TO ... START SLAVE). Both copies are brought in sync with a sysbench-shaped table of
N rows. Then both are paused (OpenDTS task suspended, replica stopped), the source runs M single-row
UPDATE transactions (the stream), and both are resumed at once: the time each takes to apply the
whole backlog (until a marker written after it arrives) gives rows/s. The delay OpenDTS reports once
caught up is printed too, with the peak RSS of the OpenDTS process.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from mysql_full_load import PASSWORD, REPO, fill, free_port, peak_rss_mib, sql, wait_port  # noqa: E402
from rpc_client import RpcClient  # noqa: E402


def start_server(port, server_id):
    subprocess.run(["bash", os.path.join(REPO, "scripts/db/start-mariadb.sh"), str(port)], check=True,
                   env={**os.environ, "MARIADB_SERVER_ID": str(server_id)}, stdout=subprocess.DEVNULL)


def wait_marker(port, marker, timeout=900):
    end = time.time() + timeout
    while time.time() < end:
        out = subprocess.run(["mariadb", "--no-defaults", "--protocol=tcp", "-h127.0.0.1", f"-P{port}", "-uroot", "-N", "-B",
                              "-e", f"SELECT COUNT(*) FROM sbtest.marker WHERE id = {marker}"],
                             capture_output=True, text=True, env={**os.environ, "MYSQL_PWD": PASSWORD})
        if out.returncode == 0 and out.stdout.strip() == "1":
            return time.time()
        time.sleep(0.02)
    raise SystemExit(f"marker {marker} never reached port {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000, help="rows in sbtest1")
    ap.add_argument("--updates", type=int, default=100_000, help="single-row UPDATE transactions in the stream")
    ap.add_argument("--bin", default=os.path.join(REPO, "target/release/opendts"))
    ap.add_argument("--ports", default="33081,33082,33083", help="source, OpenDTS destination, native replica")
    args = ap.parse_args()
    src, dst, replica = (int(p) for p in args.ports.split(","))
    for port, sid in ((src, 21), (dst, 22), (replica, 23)):
        start_server(port, sid)
    for port in (dst, replica):
        sql(port, "STOP SLAVE; RESET SLAVE ALL; DROP DATABASE IF EXISTS sbtest; DROP DATABASE IF EXISTS opendts_meta")
    sql(src, "DROP DATABASE IF EXISTS sbtest")
    sql(src, "RESET MASTER")

    # The native replica follows the source from the very beginning (it will also create the table).
    sql(replica, f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={src}, MASTER_USER='root', "
                 f"MASTER_PASSWORD='{PASSWORD}', MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=4; START SLAVE")
    print(f"filling sbtest1 with {args.rows} rows ...", flush=True)
    fill(src, args.rows)
    sql(src, "CREATE TABLE marker (id INT PRIMARY KEY)", "sbtest")

    data = os.path.join("/tmp", f"opendts-bench-inc-{os.getpid()}")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    key = json.loads(subprocess.check_output([args.bin, "accesskey", "create", "--data-dir", data, "--json"]))
    server = subprocess.Popen([args.bin, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                              stderr=open(os.path.join(data, "server.log"), "w"))
    try:
        wait_port(port)
        c = RpcClient("127.0.0.1", port, key["AccessKeyId"], key["AccessKeySecret"])
        job = c.call("CreateDtsInstance", Type="SYNC", PayType="PostPaid")["JobId"]
        ep = lambda side, p: {f"{side}EndpointInstanceType": "OTHER", f"{side}EndpointEngineName": "MySQL",
                              f"{side}EndpointIP": "127.0.0.1", f"{side}EndpointPort": str(p),
                              f"{side}EndpointUserName": "root", f"{side}EndpointPassword": PASSWORD}
        c.call("ConfigureDtsJob", DtsJobId=job, DtsJobName="bench", JobType="SYNC", StructureInitialization="true",
               DataInitialization="true", DataSynchronization="true",
               DbList=json.dumps({"sbtest": {"name": "sbtest", "all": True}}), **ep("Source", src), **ep("Destination", dst))
        c.call("StartDtsJob", DtsJobId=job)
        sql(src, "INSERT INTO marker VALUES (1)", "sbtest")
        for port_ in (dst, replica):
            wait_marker(port_, 1)
        print("both copies in sync; pausing them and writing the stream ...", flush=True)

        c.call("SuspendDtsJob", DtsJobId=job)
        sql(replica, "STOP SLAVE")
        # The stream: M single-row UPDATE transactions, as sysbench oltp_update_index issues them.
        sql(src, f"""CREATE PROCEDURE stream(n INT) BEGIN
                        DECLARE i INT DEFAULT 0;
                        DECLARE target INT;
                        WHILE i < n DO
                          SET target = 1 + FLOOR(RAND() * {args.rows});
                          UPDATE sbtest1 SET k = k + 1 WHERE id = target;
                          SET i = i + 1;
                        END WHILE; END""", "sbtest", delimiter="$$")
        t0 = time.time()
        sql(src, f"SET autocommit = 1; CALL stream({args.updates})", "sbtest")
        print(f"stream of {args.updates} updates written in {time.time() - t0:.1f} s", flush=True)
        sql(src, "INSERT INTO marker VALUES (2)", "sbtest")

        results = {}

        def catch_up(name, resume, port_):
            started = time.time()
            resume()
            results[name] = wait_marker(port_, 2) - started

        threads = [
            threading.Thread(target=catch_up, args=("opendts", lambda: c.call("StartDtsJob", DtsJobId=job), dst)),
            threading.Thread(target=catch_up, args=("native", lambda: sql(replica, "START SLAVE"), replica)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.5)
        d = c.call("DescribeDtsJobDetail", DtsJobId=job)
        rss = peak_rss_mib(server.pid)
        same = sql(src, "CHECKSUM TABLE sbtest1", "sbtest").split()[-1] == sql(dst, "CHECKSUM TABLE sbtest1", "sbtest").split()[-1]
        print(f"stream: {args.updates} single-row UPDATE transactions on a {args.rows}-row table; applied concurrently")
        print(f"(c) OpenDTS incremental : {results['opendts']:7.2f} s  {args.updates / results['opendts']:9.0f} rows/s  "
              f"delay after catch-up {d['Delay']} s, peak RSS {rss:.0f} MiB, destination identical: {same}")
        print(f"(d) MariaDB replica     : {results['native']:7.2f} s  {args.updates / results['native']:9.0f} rows/s")
        print(f"OpenDTS / replica       : {100.0 * results['native'] / results['opendts']:.0f} %")
    finally:
        server.terminate()
        server.wait(timeout=30)
        sql(replica, "STOP SLAVE")


if __name__ == "__main__":
    main()
