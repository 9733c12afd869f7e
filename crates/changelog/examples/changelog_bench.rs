//! Append/read/open throughput of the change log; run by `bench/changelog-append.sh`.
//!
//! Usage: changelog_bench [--records N] [--batch N] [--record-bytes N] [--open-gb N] [--cold] [--dir PATH]

use opendts_changelog::{ChangeLog, LogError, LogOptions, Record, SyncPolicy};
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Args {
    records: u64,
    batch: u64,
    record_bytes: usize,
    open_gb: f64,
    cold: bool,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        records: 1_000_000,
        batch: 100,
        record_bytes: 300,
        open_gb: 1.0,
        cold: false,
        dir: std::env::temp_dir().join(format!("opendts-changelog-bench-{}", std::process::id())),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--cold" {
            a.cold = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--records" => a.records = v.parse().map_err(|e| bad(&e))?,
            "--batch" => a.batch = v.parse().map_err(|e| bad(&e))?,
            "--record-bytes" => a.record_bytes = v.parse().map_err(|e| bad(&e))?,
            "--open-gb" => a.open_gb = v.parse().map_err(|e| bad(&e))?,
            "--dir" => a.dir = PathBuf::from(v),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(a)
}

/// A record whose frame is `record_bytes` on disk (38 bytes of framing, 16 of key, 24 of position).
fn record(i: u64, record_bytes: usize) -> Record {
    let value_len = record_bytes.saturating_sub(38 + 16 + 24);
    let mut value = vec![b'v'; value_len];
    let tag = i.to_le_bytes();
    let n = tag.len().min(value.len());
    value[..n].copy_from_slice(&tag[..n]);
    Record {
        timestamp_ms: 1_700_000_000_000 + i as i64 / 10,
        key: Some(format!("{:016}", i % 100_000).into_bytes()),
        value,
        source_position: format!("mysql-bin.000042:{i:07}").into_bytes(),
    }
}

fn opts(sync: SyncPolicy) -> LogOptions {
    LogOptions {
        sync,
        ..LogOptions::default()
    }
}

/// Appends `n` records in batches; returns bytes written. Record building is kept out of the timing.
fn append(dir: &Path, sync: SyncPolicy, n: u64, a: &Args) -> Result<(u64, f64), LogError> {
    let mut log = ChangeLog::open(dir, opts(sync))?;
    let mut batches: Vec<Vec<Record>> = (0..a.batch.min(n))
        .map(|b| {
            (0..a.batch)
                .map(|k| record(b * a.batch + k, a.record_bytes))
                .collect()
        })
        .collect();
    let t = Instant::now();
    let mut done = 0;
    let mut i = 0;
    while done < n {
        let take = a.batch.min(n - done) as usize;
        let nb = batches.len();
        let batch = &mut batches[i % nb];
        // Ten records per millisecond, in order, like a busy source.
        for (k, r) in batch.iter_mut().enumerate() {
            r.timestamp_ms = 1_700_000_000_000 + (done + k as u64) as i64 / 10;
        }
        log.append(&batch[..take])?;
        done += take as u64;
        i += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok((n * a.record_bytes as u64, secs))
}

fn report(what: &str, records: u64, bytes: u64, secs: f64) {
    println!(
        "{what:<34} {records:>9} records in {secs:>7.3} s: {:>10.0} records/s {:>8.1} MB/s",
        records as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

fn run(a: &Args) -> Result<(), LogError> {
    let _ = std::fs::remove_dir_all(&a.dir);
    for (name, sync) in [
        ("never", SyncPolicy::Never),
        ("every-append", SyncPolicy::EveryAppend),
    ] {
        let dir = a.dir.join(name);
        let (bytes, secs) = append(&dir, sync, a.records, a)?;
        report(
            &format!("append, sync {name}, batch {}", a.batch),
            a.records,
            bytes,
            secs,
        );
    }

    // Read back the whole log as a Kafka fetch loop would (1 MiB per fetch).
    let log = ChangeLog::open(&a.dir.join("never"), opts(SyncPolicy::Never))?;
    let t = Instant::now();
    let (mut at, mut n, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let got = log.read(at, 1 << 20)?;
        let Some(last) = got.last() else { break };
        at = last.offset + 1;
        n += got.len() as u64;
        bytes += got.iter().map(|r| r.value.len() as u64 + 78).sum::<u64>();
    }
    report("read, 1 MiB fetches", n, bytes, t.elapsed().as_secs_f64());
    drop(log);

    // Open (recovery scan + index rebuild) of a large log.
    if a.open_gb > 0.0 {
        let dir = a.dir.join("open");
        let n = (a.open_gb * 1e9 / a.record_bytes as f64) as u64;
        append(&dir, SyncPolicy::Never, n, a)?;
        let t = Instant::now();
        let log = ChangeLog::open(&dir, opts(SyncPolicy::Never))?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "open (warm cache) of {:.2} GB, {} records, {} segments: {secs:.3} s",
            n as f64 * a.record_bytes as f64 / 1e9,
            log.end_offset(),
            std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0)
        );
        drop(log);
        // Cold cache only on request: dropping the page cache (root only) slows everything else on the
        // machine for a while.
        if a.cold {
            if std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok() {
                let t = Instant::now();
                let log = ChangeLog::open(&dir, opts(SyncPolicy::Never))?;
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "open (cold cache): {secs:.3} s, end offset {}",
                    log.end_offset()
                );
            } else {
                println!("open (cold cache): not measured (cannot drop the page cache)");
            }
        }
        let log = ChangeLog::open(&dir, opts(SyncPolicy::Never))?;
        let mid = log.end_offset() / 2;
        let t = Instant::now();
        let ts = log.read(mid, 1)?.first().map_or(0, |r| r.timestamp_ms);
        let found = log.offset_for_time(ts)?.unwrap_or(0);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "read(offset {mid}) + offset_for_time({ts}) -> {found}: {:.3} ms",
            secs * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&a.dir);
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("bench failed: {e}");
        let _ = std::fs::remove_dir_all(&args.dir);
        std::process::exit(1);
    }
}
