#!/usr/bin/env bash
# PostgreSQL -> PostgreSQL incremental apply of a backlog: OpenDTS beside PostgreSQL's native logical replication.
# Usage: bench/pg-incremental.sh [CHANGES]      (default 300,000 row changes)
# Env:   PGHOST PGPORT PGUSER PGPASSWORD (default 127.0.0.1 54321 postgres opendts-root; wal_level=logical),
#        CHAR_TYPE (char or varchar, the type of c and pad; default char),
#        INITIAL_ROWS (rows in the table before the backlog, default 10,000), OPENDTS_BIN, OPENDTS_SERVE_ARGS,
#        ROUNDS (default 1): that many backlogs, each applied by both consumers, odd rounds OpenDTS first and
#        even rounds the subscription first; medians are reported (this machine's noise is about +-15 %).
#
# A source database gets a sysbench-shaped table sbtest1 (id bigint PRIMARY KEY, k int with an index,
# c char(120), pad char(60)) of INITIAL_ROWS rows. Two consumers of the same source, each with its own
# destination database on the same server, are brought in step with it:
#   (a) OpenDTS, release build: a SYNC job (schema + full load + incremental) until Synchronizing;
#   (b) native logical replication: CREATE PUBLICATION on the source, a pgoutput slot made beforehand with
#       pg_create_logical_replication_slot (a subscription to a database of the same cluster cannot create
#       its own slot), the rows copied into a pre-created table, CREATE SUBSCRIPTION ... WITH
#       (create_slot = false, copy_data = false).
# A first marker row proves both are streaming. Then both are paused (SuspendDtsJob; ALTER SUBSCRIPTION
# DISABLE) and the source runs the backlog: CHANGES/10 transactions of 10 row changes each (5 inserts,
# 3 single-row updates of random rows, 2 deletes) from one PL/pgSQL loop committing after each, then a
# marker row in a transaction of its own. Each consumer is then resumed alone, (a) StartDtsJob and
# (b) ALTER SUBSCRIPTION ENABLE (OpenDTS first in odd rounds, the subscription first in even ones), and timed from the resume until the marker is on its destination (polled
# every 0.1 s); both apply the same WAL. Afterwards each destination must equal the source (row count,
# a hash of every row, an md5 of every 97th row in id order).
set -euo pipefail
source "$(dirname "$0")/lib-pg.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

CHANGES="${1:-300000}"
ROUNDS="${ROUNDS:-1}"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -gt 0 ]] || die "ROUNDS must be a positive number"
[[ "$CHANGES" =~ ^[0-9]+$ && "$CHANGES" -ge 10 ]] || die "usage: $0 [CHANGES >= 10]"
TXNS=$((CHANGES / 10))
CHANGES=$((TXNS * 10))
N0="${INITIAL_ROWS:-10000}"
((N0 >= 10)) || die "INITIAL_ROWS must be at least 10"
CHAR_TYPE="${CHAR_TYPE:-char}"
[[ "$CHAR_TYPE" == char || "$CHAR_TYPE" == varchar ]] || die "CHAR_TYPE must be char or varchar"
read -r -a SERVE_ARGS <<<"${OPENDTS_SERVE_ARGS:-}"

ensure_binary
header "PostgreSQL -> PostgreSQL incremental backlog, $CHANGES row changes in $TXNS transactions on a table of $N0 rows (c, pad: $CHAR_TYPE)" \
  "(a) OpenDTS SYNC job: SuspendDtsJob, backlog, StartDtsJob -> marker row on the destination (polled every 0.1 s); serve ${SERVE_ARGS[*]:-(defaults)}" \
  "(b) native logical replication (publication + subscription, same server): DISABLE, backlog, ENABLE -> marker row"

SRC="odts_${RUN_TAG}_src"
DST_A="odts_${RUN_TAG}_dts"
DST_B="odts_${RUN_TAG}_native"
PUB="odts_${RUN_TAG}_pub"
SUB="odts_${RUN_TAG}_sub"
new_db "$SRC"
new_db "$DST_A"
new_db "$DST_B"

digits="lpad((random() * 99999999999)::bigint::text, 11, '0')"
group() { local n="$1" out="" i; for ((i = 0; i < n; i++)); do out+="${out:+ || '-' || }$digits"; done; echo "$out"; }
C="$(group 10)" PAD="$(group 5)"
DDL="CREATE TABLE sbtest1 (id bigint NOT NULL PRIMARY KEY, k int NOT NULL DEFAULT 0,
                           c $CHAR_TYPE(120) NOT NULL DEFAULT '', pad $CHAR_TYPE(60) NOT NULL DEFAULT '');
     CREATE INDEX k_1 ON sbtest1 (k)"
q "$SRC" "$DDL" >/dev/null
q "$SRC" "INSERT INTO sbtest1 (id, k, c, pad) SELECT g, (random() * $N0)::int, $C, $PAD FROM generate_series(1, $N0) g" >/dev/null
q "$SRC" "VACUUM (ANALYZE) sbtest1" >/dev/null

FINGERPRINT="SELECT count(*) || ' ' || coalesce(sum(hashtext(t::text)), 0) || ' ' ||
                    md5(coalesce(string_agg(t::text, '|' ORDER BY id) FILTER (WHERE id % 97 = 0), ''))
             FROM sbtest1 t"

# ---- (b) set up first: its slot starts where the copied rows end (nothing writes in between) ----------
q "$SRC" "CREATE PUBLICATION $PUB FOR TABLE sbtest1" >/dev/null
reg_pub "$SRC" "$PUB"
reg_slot "$SUB"
q "$SRC" "SELECT pg_create_logical_replication_slot('$SUB', 'pgoutput')" >/dev/null
q "$DST_B" "$DDL" >/dev/null
psql -X -q -d "$SRC" -c "COPY sbtest1 TO STDOUT" | psql -X -q -v ON_ERROR_STOP=1 -d "$DST_B" -c "COPY sbtest1 FROM STDIN" >/dev/null
q "$DST_B" "VACUUM (ANALYZE) sbtest1" >/dev/null
reg_sub "$DST_B" "$SUB"
q "$DST_B" "CREATE SUBSCRIPTION $SUB
            CONNECTION 'host=$PGHOST port=$PGPORT user=$PGUSER password=$PGPASSWORD dbname=$SRC'
            PUBLICATION $PUB WITH (create_slot = false, slot_name = '$SUB', copy_data = false)" >/dev/null

# ---- (a) OpenDTS: schema + full load of the small table, then streaming --------------------------
start_opendts "${SERVE_ARGS[@]}"
JOB="$(dts create SYNC)"
_JOBS+=("$JOB")
dts configure "$JOB" SYNC "$SRC" "$DST_A" true
dts start "$JOB"
dts wait "$JOB" Synchronizing 300
echo "OpenDTS job $JOB is Synchronizing; native subscription $SUB is enabled"

wait_row() { # wait_row DB ID TIMEOUT: polls every 0.1 s until sbtest1 holds row ID
  local deadline
  deadline=$(awk -v t="$(now)" -v d="$3" 'BEGIN { printf "%.3f", t + d }')
  until [[ "$(q "$1" "SELECT count(*) FROM sbtest1 WHERE id = $2" 2>/dev/null)" == "1" ]]; do
    if awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }'; then
      return 1
    fi
    sleep 0.1
  done
}
q "$SRC" "INSERT INTO sbtest1 (id, k) VALUES (-1, 0)" >/dev/null
wait_row "$DST_A" -1 120 || { dts detail "$JOB" >&2; die "(a) the first marker did not reach OpenDTS's destination in 120 s"; }
wait_row "$DST_B" -1 120 || die "(b) the first marker did not reach the subscription's destination in 120 s"
T_SUB_WORKER=$(now)
echo "first marker arrived on both destinations"

# ---- rounds: pause both, write a backlog, resume each alone ---------------------------------------
pause_both() {
  dts suspend "$JOB"
  dts wait "$JOB" Suspending 60
  q "$DST_B" "ALTER SUBSCRIPTION $SUB DISABLE" >/dev/null
  local i
  for ((i = 0; i < 300; i++)); do # both slots idle: nobody reads the backlog while it is written
    [[ "$(q postgres "SELECT count(*) FROM pg_replication_slots WHERE database = '$SRC' AND active")" == "0" ]] && return 0
    sleep 0.1
  done
  die "a replication slot on $SRC is still active 30 s after both consumers were paused"
}

write_backlog() { # write_backlog ROUND: TXNS transactions, then the round's marker row -(ROUND + 1)
  local base=$((N0 + (${1} - 1) * 5 * TXNS)) t
  t=$(now)
  q "$SRC" "DO \$\$
DECLARE
  base constant bigint := $base;
  top constant bigint := $N0 - 2; -- updates pick rows 1..top, which no delete touches
  r1 bigint; r2 bigint; r3 bigint;
BEGIN
  FOR i IN 1..$TXNS LOOP
    INSERT INTO sbtest1 (id, k, c, pad)
      SELECT base + 5 * (i - 1) + g, (random() * $N0)::int, $C, $PAD FROM generate_series(1, 5) g;
    -- (the random ids are drawn first: random() in a WHERE clause would be drawn for every row scanned)
    r1 := 1 + floor(random() * top)::bigint;
    r2 := 1 + floor(random() * top)::bigint;
    r3 := 1 + floor(random() * top)::bigint;
    UPDATE sbtest1 SET k = k + 1 WHERE id = r1;
    UPDATE sbtest1 SET c = $C WHERE id = r2;
    UPDATE sbtest1 SET k = k - 1, pad = $PAD WHERE id = r3;
    IF i = 1 THEN
      DELETE FROM sbtest1 WHERE id IN (base, base - 1);
    ELSE
      DELETE FROM sbtest1 WHERE id IN (base + 5 * (i - 2) + 1, base + 5 * (i - 2) + 2);
    END IF;
    COMMIT;
  END LOOP;
END
\$\$" >/dev/null
  q "$SRC" "INSERT INTO sbtest1 (id, k) VALUES (-$((${1} + 1)), 0)" >/dev/null
  GEN_SECS="$(fsub "$(now)" "$t")"
}

verify() { # verify METHOD DB
  local fp
  fp="$(q "$2" "$FINGERPRINT")" || die "$1: cannot read sbtest1 in $2"
  if [[ "$fp" != "$SRC_FP" ]]; then
    show_diff "$SRC" "$2"
    mismatch "$1: the destination differs from the source: count/hash/md5 '$fp' vs '$SRC_FP'"
    return 0
  fi
  [[ "$fp" == "$SRC_FP" ]] && echo "  $1 verified: ${fp%% *} rows, hash and sample md5 equal to the source"
}
TIMEOUT=$((600 + CHANGES / 500))
LOADS=() SECS_A=() SECS_B=() SECS_B_APPLY=() CPU_A=() WORKER_AFTER=()

resume_a() { # resume_a ROUND: StartDtsJob, timed until the round's marker is on OpenDTS's destination
  local marker=-$((${1} + 1)) cpu0 t
  checkpoint
  LOADS+=("a: $(cut -d' ' -f1-3 /proc/loadavg)")
  echo "(a) StartDtsJob, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
  cpu0="$(dts_cpu_secs)"
  t=$(now)
  dts start "$JOB"
  wait_row "$DST_A" "$marker" "$TIMEOUT" || { dts detail "$JOB" >&2; die "(a) OpenDTS did not apply the backlog within $TIMEOUT s"; }
  SECS_A+=("$(fsub "$(now)" "$t")")
  CPU_A+=("$(fsub "$(dts_cpu_secs)" "$cpu0")")
  verify "(a)" "$DST_A"
}

resume_b() { # resume_b ROUND: ALTER SUBSCRIPTION ENABLE, timed until the round's marker is on its destination
  local marker=-$((${1} + 1)) retry_ms t t_worker="" t_now state
  checkpoint
  LOADS+=("b: $(cut -d' ' -f1-3 /proc/loadavg)")
  echo "(b) ALTER SUBSCRIPTION ENABLE, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
  # The launcher starts apply workers at most once per wal_retrieve_retry_interval: let that interval pass
  # since the subscription's worker last started, so the ENABLE below is served at once.
  retry_ms="$(q postgres "SELECT setting FROM pg_settings WHERE name = 'wal_retrieve_retry_interval'")"
  sleep "$(awk -v t0="$T_SUB_WORKER" -v t="$(now)" -v ms="$retry_ms" 'BEGIN { w = t0 + ms / 1000 + 0.5 - t; printf "%.3f", (w > 0 ? w : 0) }')"
  t=$(now)
  q "$DST_B" "ALTER SUBSCRIPTION $SUB ENABLE" >/dev/null
  # Polled every 0.1 s: has the apply worker started, is the marker there?
  while :; do
    state="$(q "$DST_B" "SELECT (SELECT count(*) FROM pg_stat_subscription WHERE subname = '$SUB' AND pid IS NOT NULL)
                                || ' ' || (SELECT count(*) FROM sbtest1 WHERE id = $marker)")"
    t_now=$(now)
    [[ -z "$t_worker" && "${state% *}" != "0" ]] && t_worker=$t_now
    [[ "${state#* }" == "1" ]] && break
    awk -v a="$t_now" -v b="$t" -v m="$TIMEOUT" 'BEGIN { exit !(a - b > m) }' && die "(b) the subscription did not apply the backlog within $TIMEOUT s"
    sleep 0.1
  done
  T_SUB_WORKER="${t_worker:-$t_now}"
  SECS_B+=("$(fsub "$t_now" "$t")")
  WORKER_AFTER+=("$(fsub "${t_worker:-$t_now}" "$t")")
  SECS_B_APPLY+=("$(fsub "$t_now" "${t_worker:-$t}")")
  verify "(b)" "$DST_B"
}

RSS_BEFORE="$(dts_rss_mib)"
for ((round = 1; round <= ROUNDS; round++)); do
  ((ROUNDS == 1)) || echo "--- round $round of $ROUNDS"
  pause_both
  echo "writing the backlog: $TXNS transactions x 10 row changes ..."
  write_backlog "$round"
  SRC_FP="$(q "$SRC" "$FINGERPRINT")"
  EXPECT_ROWS=$((N0 + 1 + round * (3 * TXNS + 1)))
  [[ "${SRC_FP%% *}" == "$EXPECT_ROWS" ]] || die "the source holds ${SRC_FP%% *} rows, expected $EXPECT_ROWS"
  BACKLOG_MB="$(q postgres "SELECT round(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) / 1048576.0, 1)
                            FROM pg_replication_slots WHERE slot_name = '$SUB'")"
  echo "backlog written in $GEN_SECS s ($(fdiv "$CHANGES" "$GEN_SECS" 0) changes/s on the source); WAL behind the slots: $BACKLOG_MB MB"
  # Odd rounds resume OpenDTS first, even rounds the subscription: neither always runs right after the backlog.
  # After each catch-up the server idles a moment, as it would between bursts: both consumers' slots then
  # learn where the WAL ends and confirm it, so neither starts the next round decoding the other's writes.
  if ((round % 2 == 1)); then
    resume_a "$round"; sleep 2; resume_b "$round"; sleep 2
  else
    resume_b "$round"; sleep 2; resume_a "$round"; sleep 2
  fi
done

RSS="$(dts_peak_rss_mib)"
DETAIL="$(dts detail "$JOB")"
dts delete "$JOB"
_JOBS=()
NOTES="$(dts_log_notes)"
[[ -z "$NOTES" ]] || DTS_KEEP_LOG=1
LOGFILE="$DTS_DATA/server.log"
stop_opendts

# ---- report --------------------------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rate() { printf '%8.2f s %10.0f changes/s %8.0f txn/s' "$1" "$(fdiv "$CHANGES" "$1" 3)" "$(fdiv "$TXNS" "$1" 3)"; }
echo
echo "backlog per round: $CHANGES row changes ($((5 * TXNS)) inserts, $((3 * TXNS)) updates, $((2 * TXNS)) deletes) in $TXNS transactions, about $BACKLOG_MB MB of WAL"
RATIOS=() RATIOS_APPLY=()
for ((i = 0; i < ROUNDS; i++)); do
  RATIOS+=("$(pct "${SECS_B[i]}" "${SECS_A[i]}")") RATIOS_APPLY+=("$(pct "${SECS_B_APPLY[i]}" "${SECS_A[i]}")")
done
if ((ROUNDS > 1)); then
  echo "per round: (a) OpenDTS / (b) native seconds (b from its apply worker's start), a as % of b"
  for ((i = 0; i < ROUNDS; i++)); do
    printf '  round %d (%s first): %6.2f / %6.2f (%6.2f)   %4s %%\n' "$((i + 1))" "$( ((i % 2 == 0)) && echo a || echo b)" \
      "${SECS_A[i]}" "${SECS_B[i]}" "${SECS_B_APPLY[i]}" "${RATIOS[i]}"
  done
  echo "medians over $ROUNDS rounds:"
fi
echo "(a) OpenDTS incremental               $(rate "$(median "${SECS_A[@]}")")"
echo "(b) native logical replication        $(rate "$(median "${SECS_B[@]}")")"
echo "    (b) from its apply worker's start $(rate "$(median "${SECS_B_APPLY[@]}")")"
echo "(b) the apply worker was seen running $(median "${WORKER_AFTER[@]}") s after ENABLE (+-0.1 s)"
echo "OpenDTS as % of native:   $(median "${RATIOS[@]}") % (from resume to marker); $(median "${RATIOS_APPLY[@]}") % against native timed from its worker's start"
echo "OpenDTS peak RSS (VmHWM): $RSS MiB (RSS before the first resume: $RSS_BEFORE MiB; target < 300 MiB)"
echo "OpenDTS CPU during (a):   $(median "${CPU_A[@]}") s user+system"
echo "loadavg at the start of each resume: ${LOADS[*]}"
echo "OpenDTS after catch-up: $(python3 -c 'import json,sys; d=json.load(sys.stdin); print("Status", d.get("Status"), "DataSynchronizationStatus", json.dumps(d.get("DataSynchronizationStatus")), "Delay", d.get("Delay"))' <<<"$DETAIL")"
if [[ -n "$NOTES" ]]; then
  echo "OpenDTS server log, warnings/errors ($LOGFILE):"
  echo "$NOTES"
fi
report_mismatches
