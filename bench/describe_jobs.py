"""DescribeDtsJobs latency with N jobs in the store (issue goal: p99 < 10 ms with 10,000).

Starts a fresh server (release build) on a temporary data directory, creates N
instances through the API (half migration, half sync; a tenth tagged), then
times DescribeDtsJobs calls with the filters, sorts and pages a console uses.
Prints p50/p90/p99/max of the client-observed latency.
"""
import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from rpc_client import RpcClient  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server did not listen on {port}")


def percentile(sorted_values, p):
    index = min(len(sorted_values) - 1, int(round(p / 100.0 * (len(sorted_values) - 1))))
    return sorted_values[index]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", default="target/release/opendts")
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=2_000)
    args = ap.parse_args()

    data_dir = tempfile.mkdtemp(prefix="opendts-bench-")
    port = free_port()
    key = json.loads(subprocess.check_output([args.bin, "accesskey", "create", "--data-dir", data_dir, "--json"]))
    server = subprocess.Popen(
        [args.bin, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
         "--describe-jobs-rate-limit", "1000000"],
        stderr=open(os.path.join(data_dir, "server.log"), "w"),
    )
    try:
        wait_for_port(port)
        client = RpcClient("127.0.0.1", port, key["AccessKeyId"], key["AccessKeySecret"])
        started = time.time()
        ids = []
        for i in range(args.jobs):
            kind = "MIGRATION" if i % 2 == 0 else "SYNC"
            body = client.call("CreateDtsInstance", Type=kind, PayType="PostPaid")
            ids.append(body["InstanceId"])
            if i % 10 == 0:
                client.call("TagResources", ResourceType="ALIYUN::DTS::INSTANCE",
                            **{"ResourceId.1": body["InstanceId"], "Tag.1.Key": "team", "Tag.1.Value": f"t{i % 7}"})
        print(f"created {args.jobs} instances in {time.time() - started:.1f} s")

        rng = random.Random(42)
        shapes = [
            lambda: {"JobType": "MIGRATION", "PageSize": 20, "PageNumber": rng.randint(1, args.jobs // 40)},
            lambda: {"JobType": "SYNC", "PageSize": 30, "OrderDirection": "DESC", "PageNumber": rng.randint(1, 50)},
            lambda: {"JobType": "SYNC", "Status": "NotConfigured", "PageSize": 20},
            lambda: {"JobType": "MIGRATION", "Type": "instance", "Params": rng.choice(ids)},
            lambda: {"JobType": "MIGRATION", "Tags": json.dumps([{"key": "team", "value": f"t{rng.randint(0, 6)}"}])},
            lambda: {"JobType": "SYNC", "DtsInstanceId": ",".join(rng.sample(ids, 5))},
        ]
        latencies = []
        by_shape = {}
        for _ in range(args.calls):
            shape = rng.randrange(len(shapes))
            params = shapes[shape]()
            t0 = time.perf_counter()
            client.call("DescribeDtsJobs", Region="cn-hangzhou", **params)
            ms = (time.perf_counter() - t0) * 1000.0
            latencies.append(ms)
            by_shape.setdefault(shape, []).append(ms)
        for shape, values in sorted(by_shape.items()):
            values.sort()
            print(f"  shape {shape}: p50 {percentile(values, 50):.2f} p99 {percentile(values, 99):.2f} ms")
        latencies.sort()
        print(f"DescribeDtsJobs over {args.jobs} jobs, {args.calls} calls (client-observed, ms):")
        print(f"  p50 {percentile(latencies, 50):.2f}  p90 {percentile(latencies, 90):.2f}  "
              f"p99 {percentile(latencies, 99):.2f}  max {latencies[-1]:.2f}  mean {statistics.mean(latencies):.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
