"""Change tracking (issue 5): capture, consume and end-to-end latency of a SUBSCRIBE task.

Driven by bench/subscription.sh, which starts a throwaway MariaDB and `opendts serve --kafka-listen 127.0.0.1:0`
and cleans both up. This script talks to them:

1. capture: a SUBSCRIBE task (ConfigureSubscription, dts_avro) is Normal; the source runs CHANGES row changes in
   transactions of 100 rows (half multi-row INSERTs, half UPDATEs of 100 rows by key range, sysbench-shaped
   table), written by a stored procedure so the writer is not the bottleneck. Timed from the start of the writer
   to the moment the subscription topic's high watermark (Kafka ListOffsets, polled every 5 ms) holds them all.
   (a) live: the task runs while the source writes; (b) backlog: the task is suspended, the same amount is
   written, and StartDtsJob is timed to the moment the log holds it (includes the task's restart).
2. consume: two consumer groups (CreateConsumerChannel) read every record from offset 0, one with kafka-python,
   one with confluent-kafka (subscribe + group join, stock settings); records/s without decoding, then the
   fastavro decoding rate of the same records on its own.
3. latency: single-row INSERT transactions paced at RATE/s for SECONDS by writers piping into `mariadb`; each row
   carries the client's send time (time.time_ns() // 1000) in a BIGINT; a confluent-kafka consumer (its own
   group, assigned at the current end) stamps each record on receipt; latency = receipt - send time, from the
   decoded Avro afterImages.
"""
import argparse
import io
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import confluent_kafka
import fastavro
import kafka

sys.path.insert(0, os.path.dirname(__file__))
from rpc_client import RpcClient  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = os.environ.get("MARIADB_ROOT_PASSWORD", "opendts-root")
GROUP_PASSWORD = "Bench-pass-123"
SCHEMA = fastavro.parse_schema(json.load(open(os.path.join(REPO, "docs", "dts_avro.avsc"))))


def mariadb_cmd(port, db=None, delimiter=";"):
    cmd = ["mariadb", "--no-defaults", "--protocol=tcp", "-h127.0.0.1", f"-P{port}", "-uroot", "-N", "-B",
           f"--delimiter={delimiter}"]
    return cmd + ([db] if db else [])


def sql(port, statement, db=None, delimiter=";"):
    out = subprocess.run(mariadb_cmd(port, db, delimiter) + ["-e", statement], check=True, capture_output=True,
                         text=True, env={**os.environ, "MYSQL_PWD": PASSWORD})
    return out.stdout


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid, key="VmHWM:"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    return 0.0


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))]


C_EXPR = "CONCAT_WS('-', " + ", ".join(["LPAD(FLOOR(RAND()*1e11), 11, '0')"] * 10) + ")"
PAD_EXPR = "CONCAT_WS('-', " + ", ".join(["LPAD(FLOOR(RAND()*1e11), 11, '0')"] * 5) + ")"


def setup_source(port, db):
    sql(port, f"CREATE DATABASE `{db}`")
    sql(port, "CREATE TABLE sbtest1 (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0, "
              "c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k)) ENGINE=InnoDB;"
              "CREATE TABLE lat (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, sent_us BIGINT NOT NULL, "
              "c CHAR(120) NOT NULL DEFAULT '') ENGINE=InnoDB", db)
    # n transactions of 100 inserted rows (explicit ids base+1 .. base+100n), then n transactions updating
    # 100 of those rows each: 200 n row changes, every statement its own (autocommit) transaction.
    sql(port, f"""CREATE PROCEDURE load_changes(base INT, n INT) BEGIN
                    DECLARE i INT DEFAULT 0;
                    WHILE i < n DO
                      INSERT INTO sbtest1 (id, k, c, pad) SELECT base + i * 100 + seq, FLOOR(RAND() * 1000000),
                        {C_EXPR}, {PAD_EXPR} FROM seq_1_to_100;
                      SET i = i + 1;
                    END WHILE;
                    SET i = 0;
                    WHILE i < n DO
                      UPDATE sbtest1 SET k = k + 1 WHERE id BETWEEN base + i * 100 + 1 AND base + i * 100 + 100;
                      SET i = i + 1;
                    END WHILE; END""", db, delimiter="$$")


class Watermark:
    """The subscription topic's end offset, asked of OpenDTS's Kafka endpoint (ListOffsets)."""

    def __init__(self, host, topic, group_id, user):
        self.c = confluent_kafka.Consumer(client_conf(host, group_id, user))
        self.tp = confluent_kafka.TopicPartition(topic, 0)

    def high(self):
        return self.c.get_watermark_offsets(self.tp, timeout=10, cached=False)[1]

    def wait(self, target, timeout=600, step=0.005):
        end = time.time() + timeout
        while time.time() < end:
            if self.high() >= target:
                return time.time()
            time.sleep(step)
        raise SystemExit(f"the change log never reached offset {target} (at {self.high()})")

    def close(self):
        self.c.close()


def client_conf(host, group_id, user, **extra):
    conf = {"bootstrap.servers": host, "group.id": group_id, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "PLAIN", "sasl.username": f"{user}-{group_id}", "sasl.password": GROUP_PASSWORD,
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    conf.update(extra)
    return conf


def create_group(c, job, name):
    g = c.call("CreateConsumerChannel", DtsJobId=job, ConsumerGroupName=name, ConsumerGroupUserName=name,
               ConsumerGroupPassword=GROUP_PASSWORD)
    return g.get("ConsumerGroupID") or g["ConsumerGroupId"]


def consume_kafka_python(host, topic, group_id, user, total):
    t0 = time.time()
    consumer = kafka.KafkaConsumer(
        topic, bootstrap_servers=host, group_id=group_id, security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN", sasl_plain_username=f"{user}-{group_id}", sasl_plain_password=GROUP_PASSWORD,
        auto_offset_reset="earliest", enable_auto_commit=False)
    count, nbytes, first, last_offset = 0, 0, None, -1
    deadline = time.time() + 900
    try:
        while count < total and time.time() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                if first is None:
                    first = time.time()
                for r in records:
                    nbytes += len(r.value)
                    assert r.offset > last_offset, (r.offset, last_offset)
                    last_offset = r.offset
                count += len(records)
        t1 = time.time()
    finally:
        consumer.close()
    return count, nbytes, t0, first, t1


def consume_confluent(host, topic, group_id, user, total, keep):
    t0 = time.time()
    c = confluent_kafka.Consumer(client_conf(host, group_id, user))
    c.subscribe([topic])
    count, nbytes, first, last_offset = 0, 0, None, -1
    deadline = time.time() + 900
    try:
        while count < total and time.time() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    raise SystemExit(f"confluent-kafka: {m.error()}")
                if first is None:
                    first = time.time()
                v = m.value()
                nbytes += len(v)
                assert m.offset() > last_offset, (m.offset(), last_offset)
                last_offset = m.offset()
                count += 1
                if len(keep) < 200_000:
                    keep.append(v)
        t1 = time.time()
    finally:
        c.close()
    return count, nbytes, t0, first, t1


def paced_writer(port, db, rate, seconds, start_at, out):
    """One connection inserting rate rows/s for seconds, each row stamped with its send time."""
    p = subprocess.Popen(mariadb_cmd(port, db), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         env={**os.environ, "MYSQL_PWD": PASSWORD})
    total, sent, c = int(rate * seconds), 0, "x" * 120
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.time()
    max_behind = 0
    while sent < total:
        due = min(total, int((time.time() - t0) * rate) + 1)
        if due > sent:
            max_behind = max(max_behind, due - sent)
            lines = []
            for _ in range(due - sent):
                lines.append(f"INSERT INTO lat (sent_us, c) VALUES ({time.time_ns() // 1000}, '{c}');\n")
            p.stdin.write("".join(lines).encode())
            p.stdin.flush()
            sent = due
        else:
            time.sleep(0.0005)
    t_written = time.time()
    p.stdin.close()
    p.wait()
    out.put((sent, t0, t_written, time.time(), max_behind))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--db-port", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--key", required=True, help="JSON of `opendts accesskey create --json`")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--rate", type=int, default=5000, help="latency phase: row changes per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="latency phase: duration")
    ap.add_argument("--writers", type=int, default=8, help="latency phase: writer connections sharing the rate")
    args = ap.parse_args()
    n_txn = max(1, args.changes // 200)
    changes = n_txn * 200
    pid = args.server_pid

    key = json.loads(args.key)
    c = RpcClient("127.0.0.1", args.api_port, key["AccessKeyId"], key["AccessKeySecret"])
    setup_source(args.db_port, args.db)

    job = c.call("CreateDtsInstance", Type="SUBSCRIBE", PayType="PostPaid", SourceEndpointEngineName="MySQL",
                 RegionId="cn-hangzhou", Quantity=1)["JobId"]
    c.call("ConfigureSubscription", DtsJobId=job, DtsJobName="bench-subscription",
           SourceEndpointInstanceType="OTHER", SourceEndpointEngineName="MySQL", SourceEndpointIP="127.0.0.1",
           SourceEndpointPort=str(args.db_port), SourceEndpointUserName="root", SourceEndpointPassword=PASSWORD,
           DbList=json.dumps({args.db: {"name": args.db, "all": True}}), SubscriptionInstanceNetworkType="classic")
    c.call("StartDtsJob", DtsJobId=job)

    def wait_normal(timeout=120):
        end = time.time() + timeout
        while time.time() < end:
            d = c.call("DescribeDtsJobDetail", DtsJobId=job)
            if d.get("Status") == "Normal" and d.get("SubscriptionHost"):
                return d
            if d.get("Status") in ("Abnormal", "PrecheckFailed", "Failed"):
                raise SystemExit(f"subscription {d.get('Status')}: {json.dumps(d)[:2000]}")
            time.sleep(0.1)
        raise SystemExit("the subscription never became Normal")

    d = wait_normal()
    wm_group = create_group(c, job, "benchwm")  # the topic is shown once the subscription has a consumer group
    d = c.call("DescribeDtsJobDetail", DtsJobId=job)
    host, topic = d["SubscriptionHost"]["PrivateHost"], d["SubscribeTopic"]
    log_dir = os.path.join(args.data_dir, "changelog", job)
    print(f"subscription {job}: topic {topic} on {host}; format dts_avro (default)", flush=True)

    wm = Watermark(host, topic, wm_group, "benchwm")
    base_offset = wm.high()

    # ---- 1a. capture, live -------------------------------------------------------------------------------
    results = {}
    bytes0, cpu0 = du(log_dir), cpu_s(pid)
    done = {}

    def write(base):
        done["start"] = time.time()
        sql(args.db_port, f"CALL load_changes({base}, {n_txn})", args.db)
        done["end"] = time.time()

    w = threading.Thread(target=write, args=(0,))
    w.start()
    t_end = wm.wait(base_offset + changes)
    w.join()
    t0 = done["start"]
    results["live"] = dict(secs=t_end - t0, writer=done["end"] - t0, bytes=du(log_dir) - bytes0,
                           cpu=cpu_s(pid) - cpu0, load=loadavg())
    print(f"capture (live): {changes} changes in {t_end - t0:.2f} s (source writer took {done['end'] - t0:.2f} s)",
          flush=True)

    # ---- 1b. capture, backlog ----------------------------------------------------------------------------
    c.call("SuspendDtsJob", DtsJobId=job)
    time.sleep(1.0)
    tw = time.time()
    sql(args.db_port, f"CALL load_changes({changes}, {n_txn})", args.db)
    write_secs = time.time() - tw
    bytes0, cpu0 = du(log_dir), cpu_s(pid)
    t0 = time.time()
    c.call("StartDtsJob", DtsJobId=job)
    t_end = wm.wait(base_offset + 2 * changes)
    results["backlog"] = dict(secs=t_end - t0, writer=write_secs, bytes=du(log_dir) - bytes0,
                              cpu=cpu_s(pid) - cpu0, load=loadavg())
    print(f"capture (backlog): {changes} changes in {t_end - t0:.2f} s after StartDtsJob", flush=True)
    wait_normal()
    total = wm.high()

    # ---- 2. consume --------------------------------------------------------------------------------------
    g_kp, g_ck = create_group(c, job, "benchkp"), create_group(c, job, "benchck")
    cpu0 = cpu_s(pid)
    kp = consume_kafka_python(host, topic, g_kp, "benchkp", total)
    kp_cpu = cpu_s(pid) - cpu0
    results["kp_load"] = loadavg()
    keep = []
    cpu0 = cpu_s(pid)
    ck = consume_confluent(host, topic, g_ck, "benchck", total, keep)
    ck_cpu = cpu_s(pid) - cpu0
    results["ck_load"] = loadavg()
    td = time.time()
    for v in keep:
        fastavro.schemaless_reader(io.BytesIO(v), SCHEMA)
    decode_rate = len(keep) / (time.time() - td)

    # ---- 3. latency --------------------------------------------------------------------------------------
    g_lat = create_group(c, job, "benchlat")
    start_offset = wm.high()
    consumer = confluent_kafka.Consumer(client_conf(host, g_lat, "benchlat"))
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, start_offset)])
    consumer.consume(num_messages=1, timeout=1.0)  # connected, fetching at the end
    expected = int(args.rate / args.writers * args.seconds) * args.writers
    q = multiprocessing.Queue()
    start_at = time.time() + 0.5
    writers = [multiprocessing.Process(target=paced_writer,
                                       args=(args.db_port, args.db, args.rate / args.writers, args.seconds, start_at, q))
               for _ in range(args.writers)]
    cpu0 = cpu_s(pid)
    for p in writers:
        p.start()
    got = []
    deadline = start_at + args.seconds + 60
    while len(got) < expected and time.time() < deadline:
        msgs = consumer.consume(num_messages=10000, timeout=0.05)
        now_us = time.time_ns() // 1000
        for m in msgs:
            if m.error():
                raise SystemExit(f"confluent-kafka: {m.error()}")
            got.append((m.value(), now_us))
    lat_cpu = cpu_s(pid) - cpu0
    lat_load = loadavg()
    consumer.close()
    wstats = [q.get(timeout=60) for _ in writers]
    for p in writers:
        p.join()
    lat_ms, to_capture, to_consumer, names = [], [], [], None
    for value, recv_us in got:
        rec = fastavro.schemaless_reader(io.BytesIO(value), SCHEMA)
        if rec["objectName"] != f"{args.db}.lat" or rec["operation"] != "INSERT":
            continue
        names = names or [f["name"] for f in rec["fields"]]
        sent_us = int(rec["afterImages"][names.index("sent_us")]["value"])
        lat_ms.append((recv_us - sent_us) / 1000.0)
        if rec.get("processTimestamps"):  # when OpenDTS made the record (before its append and fsync)
            made_ms = rec["processTimestamps"][0]
            to_capture.append(made_ms - sent_us / 1000.0)
            to_consumer.append(recv_us / 1000.0 - made_ms)
    lat_sorted = sorted(lat_ms)
    sent = sum(s[0] for s in wstats)
    w_t0 = min(s[1] for s in wstats)
    w_written = max(s[2] for s in wstats) - w_t0
    w_done = max(s[3] for s in wstats) - w_t0
    behind = max(s[4] for s in wstats)
    wm.close()

    # ---- report ------------------------------------------------------------------------------------------
    print()
    print("== results ==")
    for name, r in (("live", results["live"]), ("backlog", results["backlog"])):
        label = ("(1a) capture, task running while the source writes" if name == "live"
                 else "(1b) capture of a backlog, from StartDtsJob")
        print(f"{label}: {changes} changes ({n_txn} INSERT + {n_txn} UPDATE transactions of 100 rows) in "
              f"{r['secs']:.2f} s = {changes / r['secs']:,.0f} changes/s, {r['bytes'] / r['secs'] / 1e6:.1f} MB/s "
              f"of change log ({r['bytes'] / changes:.0f} B/record on disk); source writer {r['writer']:.2f} s "
              f"({changes / r['writer']:,.0f} changes/s); OpenDTS CPU {r['cpu']:.2f} s; loadavg {r['load']}")
    for label, (n, nbytes, t0, first, t1), cpu, load in (
            ("kafka-python  ", kp, kp_cpu, results["kp_load"]), ("confluent-kafka", ck, ck_cpu, results["ck_load"])):
        first = first or t1
        print(f"(2) consume {label}: {n} records ({nbytes / 1e6:.1f} MB) from offset 0: "
              f"{n / (t1 - first):,.0f} records/s, {nbytes / (t1 - first) / 1e6:.1f} MB/s after the first record "
              f"({t1 - first:.2f} s; {t1 - t0:.2f} s = {n / (t1 - t0):,.0f} records/s including connect + group "
              f"join {first - t0:.2f} s); no decoding; OpenDTS CPU {cpu:.2f} s; loadavg {load}")
    print(f"    fastavro decoding alone (schemaless_reader, docs/dts_avro.avsc): {decode_rate:,.0f} records/s "
          f"over {len(keep)} records")
    print(f"(3) latency: {sent} single-row INSERT transactions at {args.rate}/s over {args.writers} connections for "
          f"{args.seconds:.0f} s (written in {w_written:.2f} s, committed by {w_done:.2f} s, writer at most {behind} "
          f"rows behind its schedule); {len(lat_ms)} received (expected {expected})")
    if w_done > args.seconds * 1.05 + 0.5:
        print(f"    WARNING: the writers did not hold {args.rate}/s (MariaDB commits were the limit): the latency "
              f"includes time the statements queued in front of MariaDB")
    if lat_sorted:
        print(f"    send -> consumer receipt: p50 {pct(lat_sorted, 50):.1f} ms, p90 {pct(lat_sorted, 90):.1f} ms, "
              f"p99 {pct(lat_sorted, 99):.1f} ms, max {lat_sorted[-1]:.1f} ms, min {lat_sorted[0]:.1f} ms; "
              f"OpenDTS CPU {lat_cpu:.2f} s; loadavg {lat_load}")
        for label, xs in (("send -> record made by OpenDTS (MariaDB commit, binlog, decode)", sorted(to_capture)),
                          ("record made -> consumer receipt (append + fsync, Fetch, client)", sorted(to_consumer))):
            if xs:
                print(f"    {label}: p50 {pct(xs, 50):.1f} ms, p99 {pct(xs, 99):.1f} ms, max {xs[-1]:.1f} ms "
                      f"(processTimestamps has ms resolution)")
        rest = sorted(lat_ms[int(len(lat_ms) * 0.05):])
        print(f"    without the first 5 %: p50 {pct(rest, 50):.1f} ms, p99 {pct(rest, 99):.1f} ms")
    print(f"OpenDTS peak RSS {rss_mib(pid):.0f} MiB; change log {du(log_dir) / 1e6:.1f} MB on disk")
    ok = len(lat_ms) == expected
    c.call("DeleteDtsJob", DtsJobId=job)
    if not ok:
        raise SystemExit(f"latency phase: received {len(lat_ms)} of {expected} records")


if __name__ == "__main__":
    main()
