# Shared helpers of the PostgreSQL benchmarks (bench/pg-full-load.sh, bench/pg-incremental.sh).
# Sourced, not run. Connection settings come from the usual libpq variables:
#   PGHOST (default 127.0.0.1), PGPORT (default 54321), PGUSER (default postgres), PGPASSWORD (default opendts-root).
# OPENDTS_BIN (default target/release/opendts; built with cargo if missing).
# Everything a benchmark creates (databases, slots, publications, subscriptions, the OpenDTS server and its
# data directory) is registered here and removed by bench_cleanup, which the scripts run from an EXIT trap.

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-54321}" PGUSER="${PGUSER:-postgres}"
export PGPASSWORD="${PGPASSWORD:-opendts-root}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OPENDTS_BIN="${OPENDTS_BIN:-$REPO/target/release/opendts}"
# A tag unique to this run, so that two runs (or a leftover of a failed one) never share a name.
RUN_TAG="b$$_$(printf '%04x' $((RANDOM % 65536)))"

_DBS=() _SUBS=() _PUBS=() _SLOTS=() _JOBS=()
DTS_PID="" DTS_DATA="" DTS_PORT="" DTS_AK="" DTS_SK="" DTS_KEEP_LOG="${DTS_KEEP_LOG:-}"

_MISMATCHES=()
# mismatch MSG: a destination that is not a copy of the source; the run goes on (the other methods are
# still measured) and report_mismatches fails it at the end.
mismatch() { echo "MISMATCH: $*" >&2; _MISMATCHES+=("$*"); }
report_mismatches() {
  [[ ${#_MISMATCHES[@]} -eq 0 ]] && return 0
  local m
  echo >&2
  for m in "${_MISMATCHES[@]}"; do echo "FAIL: $m" >&2; done
  exit 1
}
die() { echo "FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
# fdiv A B [DIGITS]: A / B in floating point.
fdiv() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == 0) print "inf"; else printf "%.*f\n", d, a / b }'; }
# pct A B: 100 * A / B, rounded (a throughput ratio when A and B are the seconds of the other method and ours).
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.0f\n", 100 * a / b }'; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a - b }'; }

# q DB SQL...: runs SQL in DB, prints unaligned tuples-only output, stops on the first error.
q() { local db="$1"; shift; psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$*"; }

# Before each timed method: the server's dirty buffers written, and the kernel's dirty pages flushed too
# (the server runs with fsync=off, so without `sync` one method's writes are flushed during the next).
checkpoint() { q postgres "CHECKPOINT" >/dev/null && sync; }

show_diff() { # show_diff SRC_DB DST_DB: the first rows of sbtest1 that differ (diff of the COPY text in id order)
  echo "first differing rows of sbtest1 (< $1, > $2):" >&2
  diff <(psql -X -q -d "$1" -c "COPY (SELECT * FROM sbtest1 ORDER BY id) TO STDOUT") \
       <(psql -X -q -d "$2" -c "COPY (SELECT * FROM sbtest1 ORDER BY id) TO STDOUT") | head -n 12 | cut -c1-160 >&2 || true
}

header() { # header TITLE METHOD-LINES...
  local title="$1"; shift
  echo "=== $title ==="
  echo "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "machine:  $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "postgres: $(q postgres 'SELECT version()' | cut -d, -f1) at $PGHOST:$PGPORT (fsync=$(q postgres 'SHOW fsync'), synchronous_commit=$(q postgres 'SHOW synchronous_commit'), shared_buffers=$(q postgres 'SHOW shared_buffers'))"
  echo "opendts:  $OPENDTS_BIN (built $(date -u -r "$OPENDTS_BIN" '+%Y-%m-%d %H:%M:%S UTC' 2>/dev/null || echo '?'); tree at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "loadavg:  $(cut -d' ' -f1-3 /proc/loadavg)"
  local line
  for line in "$@"; do echo "method:   $line"; done
  echo
}

ensure_binary() {
  if [[ ! -x "$OPENDTS_BIN" ]]; then
    echo "building $OPENDTS_BIN ..."
    (cd "$REPO" && cargo build --release -p opendts)
  fi
}

new_db() { # new_db NAME: creates an empty database and registers it for cleanup.
  q postgres "CREATE DATABASE $1" >/dev/null
  _DBS+=("$1")
}
reg_slot() { _SLOTS+=("$1"); }
reg_pub() { _PUBS+=("$1|$2"); } # reg_pub DB NAME
reg_sub() { _SUBS+=("$1|$2"); } # reg_sub DB NAME

# --- the OpenDTS server and its API --------------------------------------------------------------

# The API driver: a few actions over bench/rpc_client.py (signature v1), with the polling loops the
# benchmarks time, so that no process start-up falls inside a measurement.
read -r -d '' DTS_PY <<'PY' || true
import json, os, sys, time
sys.path.insert(0, os.environ["BENCH_DIR"])
from rpc_client import RpcClient

c = RpcClient("127.0.0.1", int(os.environ["DTS_PORT"]), os.environ["DTS_AK"], os.environ["DTS_SK"])
cmd, args = sys.argv[1], sys.argv[2:]

def detail(job):
    return c.call("DescribeDtsJobDetail", DtsJobId=job)

def check(d):
    if d.get("Status") in ("Failed", "PrecheckFailed", "MigrationFailed", "InitializeFailed"):
        sys.exit(f"job {d.get('DtsJobId')} {d.get('Status')}: {d.get('ErrorMessage')}\n{json.dumps(d, indent=1)[:4000]}")

if cmd == "create":  # create TYPE -> JobId
    typ = args[0]
    extra = {"InstanceClass": "small", "SyncArchitecture": "oneway"} if typ == "SYNC" else {"InstanceClass": "medium"}
    r = c.call("CreateDtsInstance", Type=typ, PayType="PostPaid", SourceEndpointEngineName="PostgreSQL",
               DestinationEndpointEngineName="PostgreSQL", SourceRegion="cn-hangzhou",
               DestinationRegion="cn-hangzhou", Quantity=1, **extra)
    print(r["JobId"])
elif cmd == "configure":  # configure JOB TYPE SRC_DB DST_DB SYNC(true|false)
    job, typ, src, dst, sync = args
    ep = lambda side, db: {f"{side}EndpointInstanceType": "OTHER", f"{side}EndpointEngineName": "PostgreSQL",
                           f"{side}EndpointIP": os.environ["PGHOST"], f"{side}EndpointPort": os.environ["PGPORT"],
                           f"{side}EndpointDatabaseName": db, f"{side}EndpointUserName": os.environ["PGUSER"],
                           f"{side}EndpointPassword": os.environ["PGPASSWORD"]}
    c.call("ConfigureDtsJob", DtsJobId=job, DtsJobName="pg bench", JobType=typ, StructureInitialization="true",
           DataInitialization="true", DataSynchronization=sync,
           DbList=json.dumps({"public": {"name": "public", "all": True}}), **ep("Source", src), **ep("Destination", dst))
elif cmd == "full-load":  # full-load JOB: StartDtsJob, poll every 0.05 s until Finished; prints timings as JSON
    job = args[0]
    t0 = time.time()
    c.call("StartDtsJob", DtsJobId=job)
    data_started = None
    while True:
        d = detail(job)
        t = time.time()
        check(d)
        if data_started is None and d["DataInitializationStatus"]["Status"] in ("Migrating", "Finished"):
            data_started = t
        if d["DataInitializationStatus"]["Status"] == "Finished" and d["Status"] == "Finished":
            break
        if t - t0 > 3600:
            sys.exit("full load did not finish within an hour")
        time.sleep(0.05)
    print(json.dumps({"total": t - t0, "data": t - (data_started or t0), "detail": d}))
elif cmd == "wait":  # wait JOB STATUS [TIMEOUT]: poll until the job shows STATUS
    job, want = args[0], args[1]
    deadline = time.time() + float(args[2] if len(args) > 2 else 300)
    while True:
        d = detail(job)
        check(d)
        if d["Status"] == want:
            break
        if time.time() > deadline:
            sys.exit(f"job {job} still {d['Status']} (want {want}): {json.dumps(d)[:2000]}")
        time.sleep(0.2)
elif cmd in ("start", "suspend", "delete"):
    c.call({"start": "StartDtsJob", "suspend": "SuspendDtsJob", "delete": "DeleteDtsJob"}[cmd], DtsJobId=args[0])
elif cmd == "detail":
    print(json.dumps(detail(args[0]), indent=1))
else:
    sys.exit(f"unknown command {cmd}")
PY

dts() { BENCH_DIR="$REPO/bench" DTS_PORT="$DTS_PORT" DTS_AK="$DTS_AK" DTS_SK="$DTS_SK" python3 -c "$DTS_PY" "$@"; }

start_opendts() { # start_opendts [serve options...]
  ensure_binary
  DTS_DATA="$(mktemp -d /tmp/opendts-pgbench-XXXXXX)"
  DTS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  local key
  key="$("$OPENDTS_BIN" accesskey create --data-dir "$DTS_DATA" --json)"
  DTS_AK="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKeyId"])' <<<"$key")"
  DTS_SK="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessKeySecret"])' <<<"$key")"
  "$OPENDTS_BIN" serve --data-dir "$DTS_DATA" --listen "127.0.0.1:$DTS_PORT" "$@" >"$DTS_DATA/server.log" 2>&1 &
  DTS_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    (echo >"/dev/tcp/127.0.0.1/$DTS_PORT") 2>/dev/null && return 0
    kill -0 "$DTS_PID" 2>/dev/null || { cat "$DTS_DATA/server.log" >&2; die "opendts serve exited"; }
    sleep 0.05
  done
  die "opendts serve does not listen on $DTS_PORT"
}

dts_peak_rss_mib() { awk '/^VmHWM:/ {printf "%.0f\n", $2/1024}' "/proc/$DTS_PID/status"; }
# CPU seconds (user + system) the OpenDTS server has used so far.
dts_cpu_secs() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' "/proc/$DTS_PID/stat"; }
dts_rss_mib() { awk '/^VmRSS:/ {printf "%.0f\n", $2/1024}' "/proc/$DTS_PID/status"; }

# Lines of the server log worth a look (warnings, errors, retries).
dts_log_notes() {
  [[ -n "$DTS_DATA" && -f "$DTS_DATA/server.log" ]] || return 0
  grep -aE 'WARN|ERROR|panick|[Rr]etry' "$DTS_DATA/server.log" | head -n 20 || true
}

stop_opendts() {
  if [[ -n "$DTS_PID" ]] && kill -0 "$DTS_PID" 2>/dev/null; then
    kill "$DTS_PID" 2>/dev/null || true
    wait "$DTS_PID" 2>/dev/null || true
  fi
  DTS_PID=""
}

# --- cleanup -------------------------------------------------------------------------------------

bench_cleanup() {
  local rc=$? item db name
  set +e
  for name in "${_JOBS[@]}"; do [[ -n "$DTS_PID" ]] && dts delete "$name" >/dev/null 2>&1; done
  stop_opendts
  for item in "${_SUBS[@]}"; do
    db="${item%%|*}" name="${item#*|}"
    # Detach the subscription from its slot first, so that DROP SUBSCRIPTION does not try to drop it remotely.
    psql -X -q -d "$db" -c "ALTER SUBSCRIPTION $name DISABLE" >/dev/null 2>&1
    psql -X -q -d "$db" -c "ALTER SUBSCRIPTION $name SET (slot_name = NONE)" >/dev/null 2>&1
    psql -X -q -d "$db" -c "DROP SUBSCRIPTION IF EXISTS $name" >/dev/null 2>&1
  done
  for item in "${_PUBS[@]}"; do
    db="${item%%|*}" name="${item#*|}"
    psql -X -q -d "$db" -c "DROP PUBLICATION IF EXISTS $name" >/dev/null 2>&1
  done
  # Every slot on our databases (OpenDTS's own too, should DeleteDtsJob not have dropped it), and the ones we made.
  local dblist="" slots
  for db in "${_DBS[@]}"; do dblist+="${dblist:+,}'$db'"; done
  slots="$(
    {
      [[ ${#_DBS[@]} -gt 0 ]] && psql -X -qAt -d postgres -c "SELECT slot_name FROM pg_replication_slots WHERE database IN ($dblist)"
      printf '%s\n' "${_SLOTS[@]}"
    } 2>/dev/null | sort -u
  )"
  for name in $slots; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      out="$(psql -X -qAt -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$name'" 2>&1)" && break
      sleep 0.5 # still active: its walsender is going away
    done
  done
  for db in "${_DBS[@]}"; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || echo "cleanup: could not drop database $db" >&2
  done
  if [[ -n "$DTS_DATA" ]]; then
    if [[ $rc -ne 0 || -n "$DTS_KEEP_LOG" ]]; then
      echo "OpenDTS data directory and server log kept: $DTS_DATA/server.log" >&2
    else
      rm -rf "$DTS_DATA"
    fi
  fi
  local left
  left="$(psql -X -qAt -d postgres -c "SELECT string_agg(slot_name, ' ') FROM pg_replication_slots WHERE slot_name LIKE '%$RUN_TAG%' OR database LIKE '%$RUN_TAG%'" 2>/dev/null)"
  [[ -z "$left" ]] || echo "cleanup: slots left behind: $left" >&2
  return $rc
}
