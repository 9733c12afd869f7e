//! Integration tests of the change log: round trips, lookups, retention, recovery, concurrency.

use opendts_changelog::{ChangeLog, LogError, LogOptions, LogReader, Record, SyncPolicy};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A directory under the system temp dir, unique per test and per run, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "opendts-changelog-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opts(segment_bytes: u64) -> LogOptions {
    LogOptions {
        segment_bytes,
        retention_ms: None,
        sync: SyncPolicy::Never,
    }
}

/// Record `i`: its content says which `i` it is, so reads can be checked against offsets.
fn rec(i: u64, ts: i64) -> Record {
    Record {
        timestamp_ms: ts,
        key: ((i % 3).min(1) == 1).then(|| format!("key-{i}").into_bytes()),
        value: format!("value-{i}-{}", "x".repeat((i % 50) as usize)).into_bytes(),
        source_position: format!("binlog.000001:{}", 1000 + i).into_bytes(),
    }
}

fn check(r: &opendts_changelog::StoredRecord, ts: i64) {
    let expect = rec(r.offset, ts);
    assert_eq!(r.value, expect.value, "value of offset {}", r.offset);
    assert_eq!(r.key, expect.key, "key of offset {}", r.offset);
    assert_eq!(r.timestamp_ms, ts, "timestamp of offset {}", r.offset);
}

fn read_all(log: &LogReader, from: u64) -> Vec<opendts_changelog::StoredRecord> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let batch = log.read(at, 1000).unwrap();
        let Some(last) = batch.last() else { break };
        at = last.offset + 1;
        out.extend(batch);
    }
    out
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Appends `n` records in batches of `batch`, record i stamped 1000 + i.
fn fill(log: &mut ChangeLog, n: u64, batch: u64) {
    let mut i = log.end_offset();
    let end = i + n;
    while i < end {
        let upto = (i + batch).min(end);
        let records: Vec<_> = (i..upto).map(|j| rec(j, 1000 + j as i64)).collect();
        assert_eq!(log.append(&records).unwrap(), i..upto);
        i = upto;
    }
}

#[test]
fn round_trip_across_rollover_and_reopen() {
    let tmp = TempDir::new("roundtrip");
    let mut log = ChangeLog::open(tmp.path(), opts(2000)).unwrap();
    assert_eq!((log.begin_offset(), log.end_offset()), (0, 0));
    assert_eq!(log.read(0, 100).unwrap(), vec![]);
    assert_eq!(log.begin_timestamp(), None);
    assert_eq!(log.last_source_position(), None);
    fill(&mut log, 500, 7);
    let files = segment_files(tmp.path());
    assert!(
        files.len() > 10,
        "expected rollover, got {} segments",
        files.len()
    );
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        "00000000000000000000.log"
    );
    for f in &files[..files.len() - 1] {
        assert!(std::fs::metadata(f).unwrap().len() <= 2000);
    }
    let all = read_all(&log.reader(), 0);
    assert_eq!(all.len(), 500);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.offset, i as u64);
        check(r, 1000 + i as i64);
    }
    assert_eq!(log.begin_timestamp(), Some(1000));
    assert_eq!(log.end_timestamp(), Some(1499));
    drop(log);

    let mut log = ChangeLog::open(tmp.path(), opts(2000)).unwrap();
    assert_eq!((log.begin_offset(), log.end_offset()), (0, 500));
    assert_eq!(
        log.last_source_position(),
        Some(b"binlog.000001:1499".to_vec())
    );
    assert_eq!(log.end_timestamp(), Some(1499));
    assert_eq!(read_all(&log.reader(), 0), all);
    fill(&mut log, 10, 3);
    assert_eq!(log.end_offset(), 510);
    check(&log.read(505, 1).unwrap()[0], 1505);
}

#[test]
fn read_from_the_middle_and_max_bytes() {
    let tmp = TempDir::new("middle");
    let mut log = ChangeLog::open(tmp.path(), opts(64 * 1024)).unwrap();
    fill(&mut log, 2000, 100);
    for from in [0u64, 1, 99, 100, 101, 777, 1500, 1999] {
        let got = log.read(from, 2000).unwrap();
        assert_eq!(got[0].offset, from);
        for (k, r) in got.iter().enumerate() {
            assert_eq!(r.offset, from + k as u64);
            check(r, 1000 + r.offset as i64);
        }
        // Frames are ≥ 38 bytes: 2000 bytes can hold at most 52 of them, and the limit is honoured.
        let left = (2000 - from) as usize;
        assert!(
            got.len() <= 52 && got.len() >= left.min(10),
            "{} records",
            got.len()
        );
    }
    // Always one record, however small the budget.
    assert_eq!(log.read(5, 0).unwrap().len(), 1);
    assert_eq!(log.read(5, 1).unwrap()[0].offset, 5);
    // A large budget crosses segments.
    assert_eq!(log.read(0, usize::MAX).unwrap().len(), 2000);
    // The end is empty, past the end is out of range.
    assert!(log.read(2000, 100).unwrap().is_empty());
    assert!(matches!(
        log.read(2001, 100),
        Err(LogError::OffsetOutOfRange {
            offset: 2001,
            begin: 0,
            end: 2000
        })
    ));
}

#[test]
fn offset_for_time_equal_and_out_of_order() {
    let tmp = TempDir::new("time");
    let mut log = ChangeLog::open(tmp.path(), opts(3000)).unwrap();
    // offsets 0..10 at 100, 10..20 at 200 (equal timestamps), then out of order ones.
    let mut ts: Vec<i64> = vec![100; 10];
    ts.extend([200; 10]);
    ts.extend([300, 250, 260, 400, 50, 400, 500]); // offsets 20..27
    for chunk in ts.chunks(4).enumerate() {
        let base = chunk.0 as u64 * 4;
        let recs: Vec<_> = chunk
            .1
            .iter()
            .enumerate()
            .map(|(k, &t)| rec(base + k as u64, t))
            .collect();
        log.append(&recs).unwrap();
    }
    // Many more, to span segments and index entries: offsets 27.. at 1000 + offset.
    fill(&mut log, 1000, 50);
    let n = log.end_offset();
    let stamp = |o: u64| {
        if (o as usize) < ts.len() {
            ts[o as usize]
        } else {
            1000 + o as i64
        }
    };
    let brute = |t: i64| (0..n).find(|&o| stamp(o) >= t);
    for t in [
        i64::MIN,
        0,
        50,
        99,
        100,
        101,
        150,
        200,
        201,
        250,
        255,
        260,
        261,
        300,
        301,
        399,
        400,
        401,
        500,
        501,
        1026,
        1027,
        1028,
        1500,
        2026,
        2027,
        i64::MAX,
    ] {
        assert_eq!(log.offset_for_time(t).unwrap(), brute(t), "t = {t}");
    }
    // Kafka semantics, spelled out: equal timestamps give the first of them; a later smaller timestamp does
    // not move the answer back.
    assert_eq!(log.offset_for_time(200).unwrap(), Some(10));
    assert_eq!(log.offset_for_time(250).unwrap(), Some(20)); // 300 at offset 20 comes first
    assert_eq!(log.offset_for_time(2027).unwrap(), None);
    assert_eq!(log.begin_timestamp(), Some(100));
    assert_eq!(log.end_timestamp(), Some(1000 + n as i64 - 1));
    // Same answers after a reopen (indexes rebuilt from the segments).
    drop(log);
    let log = ChangeLog::open(tmp.path(), opts(3000)).unwrap();
    for t in (0..2100).step_by(7) {
        assert_eq!(
            log.offset_for_time(t).unwrap(),
            brute(t),
            "t = {t} after reopen"
        );
    }
}

#[test]
fn retention_drops_old_segments_and_moves_begin() {
    let tmp = TempDir::new("retention");
    let o = LogOptions {
        retention_ms: Some(100),
        ..opts(1500)
    };
    let mut log = ChangeLog::open(tmp.path(), o.clone()).unwrap();
    fill(&mut log, 300, 10); // timestamps 1000..1300
    let segments = segment_files(tmp.path()).len();
    assert!(segments > 5);
    // Nothing older than 1000: nothing goes.
    assert_eq!(log.enforce_retention(1100).unwrap(), 0);
    // Window [1150, ...): segments whose newest record is < 1150 go.
    let dropped = log.enforce_retention(1250).unwrap();
    let begin = log.begin_offset();
    assert_eq!(dropped, begin);
    assert!(begin > 0 && begin <= 150, "begin {begin}");
    // The first kept segment holds a record at or after the cutoff, the last dropped one did not.
    assert!(1000 + begin as i64 - 1 < 1150);
    assert!(segment_files(tmp.path()).len() < segments);
    assert!(matches!(
        log.read(0, 100),
        Err(LogError::OffsetOutOfRange { offset: 0, .. })
    ));
    assert!(matches!(
        log.read(begin - 1, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    check(&log.read(begin, 100).unwrap()[0], 1000 + begin as i64);
    assert_eq!(log.begin_timestamp(), Some(1000 + begin as i64));
    assert_eq!(log.offset_for_time(0).unwrap(), Some(begin));
    // Far in the future: everything but the active segment goes; offsets carry on.
    log.enforce_retention(1_000_000).unwrap();
    assert_eq!(segment_files(tmp.path()).len(), 1);
    assert_eq!(log.end_offset(), 300);
    assert!(log.begin_offset() > begin);
    drop(log);
    let mut log = ChangeLog::open(tmp.path(), o).unwrap();
    assert_eq!(log.end_offset(), 300);
    assert_eq!(
        log.last_source_position(),
        Some(b"binlog.000001:1299".to_vec())
    );
    assert_eq!(log.append(&[rec(300, 5000)]).unwrap(), 300..301);
}

#[test]
fn retention_keeps_the_last_records_when_the_active_segment_is_empty() {
    let tmp = TempDir::new("retention-empty-active");
    let o = LogOptions {
        retention_ms: Some(10),
        ..opts(500)
    };
    let mut log = ChangeLog::open(tmp.path(), o.clone()).unwrap();
    fill(&mut log, 50, 5);
    // Simulate a crash right after a roll: a new, empty active segment at the end offset.
    drop(log);
    std::fs::File::create(tmp.path().join(format!("{:020}.log", 50))).unwrap();
    let mut log = ChangeLog::open(tmp.path(), o).unwrap();
    assert_eq!(log.end_offset(), 50);
    log.enforce_retention(1_000_000).unwrap();
    assert_eq!(
        log.last_source_position(),
        Some(b"binlog.000001:1049".to_vec())
    );
    assert!(log.begin_offset() < 50);
    assert_eq!(segment_files(tmp.path()).len(), 2);
}

/// The log `base` leaves: 20 records in batches of 4, then one batch of one record (offset 20).
fn build_base(dir: &Path) -> (u64, u64) {
    let mut log = ChangeLog::open(dir, opts(1 << 20)).unwrap();
    fill(&mut log, 20, 4);
    let before = std::fs::metadata(segment_files(dir)[0].clone())
        .unwrap()
        .len();
    log.append(&[rec(20, 1020)]).unwrap();
    let after = std::fs::metadata(segment_files(dir)[0].clone())
        .unwrap()
        .len();
    (before, after)
}

fn assert_recovered_to_20(dir: &Path) {
    let mut log = ChangeLog::open(dir, opts(1 << 20)).unwrap();
    assert_eq!(log.end_offset(), 20);
    assert_eq!(
        log.last_source_position(),
        Some(b"binlog.000001:1019".to_vec())
    );
    let all = read_all(&log.reader(), 0);
    assert_eq!(all.len(), 20);
    all.iter().for_each(|r| check(r, 1000 + r.offset as i64));
    // The next append takes offset 20 again (it was never acknowledged) and is durable across a reopen.
    let other = Record {
        value: b"replacement".to_vec(),
        ..rec(20, 2000)
    };
    assert_eq!(log.append(std::slice::from_ref(&other)).unwrap(), 20..21);
    drop(log);
    let log = ChangeLog::open(dir, opts(1 << 20)).unwrap();
    assert_eq!(log.end_offset(), 21);
    assert_eq!(log.read(20, 10).unwrap()[0].value, other.value);
    assert_eq!(log.last_source_position(), Some(other.source_position));
}

#[test]
fn torn_tail_at_every_byte_is_cut_back() {
    let tmp = TempDir::new("torn");
    let master = tmp.path().join("master");
    let (before, after) = build_base(&master);
    let bytes = std::fs::read(segment_files(&master)[0].clone()).unwrap();
    assert_eq!(bytes.len() as u64, after);
    for cut in before..after {
        let dir = tmp.path().join(format!("cut-{cut}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("00000000000000000000.log"), &bytes[..cut as usize]).unwrap();
        assert_recovered_to_20(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // The untouched file keeps the record.
    let log = ChangeLog::open(&master, opts(1 << 20)).unwrap();
    assert_eq!(log.end_offset(), 21);
}

#[test]
fn flipped_byte_in_the_last_record_is_cut_back() {
    let tmp = TempDir::new("flip");
    let master = tmp.path().join("master");
    let (before, after) = build_base(&master);
    let bytes = std::fs::read(segment_files(&master)[0].clone()).unwrap();
    for at in before..after {
        for mask in [0x01u8, 0x80] {
            let dir = tmp.path().join(format!("flip-{at}-{mask}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut b = bytes.clone();
            b[at as usize] ^= mask;
            std::fs::write(dir.join("00000000000000000000.log"), &b).unwrap();
            assert_recovered_to_20(&dir);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}

#[test]
fn garbage_after_the_last_record_is_cut_back() {
    let tmp = TempDir::new("garbage");
    let (_, after) = build_base(tmp.path());
    let path = segment_files(tmp.path())[0].clone();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]); // what a filesystem may leave after a crash
    std::fs::write(&path, &bytes).unwrap();
    let log = ChangeLog::open(tmp.path(), opts(1 << 20)).unwrap();
    assert_eq!(log.end_offset(), 21);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), after);
}

#[test]
fn a_torn_batch_goes_entirely() {
    let tmp = TempDir::new("torn-batch");
    let mut log = ChangeLog::open(tmp.path(), opts(1 << 20)).unwrap();
    fill(&mut log, 10, 5);
    let path = segment_files(tmp.path())[0].clone();
    let before = std::fs::metadata(&path).unwrap().len();
    let batch: Vec<_> = (10..15).map(|i| rec(i, 1000 + i as i64)).collect();
    log.append(&batch).unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    drop(log);
    // Cut inside the last record of the batch: the four whole records before it go too.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(after - 3).unwrap();
    drop(f);
    let mut log = ChangeLog::open(tmp.path(), opts(1 << 20)).unwrap();
    assert_eq!(log.end_offset(), 10);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), before);
    assert_eq!(
        log.last_source_position(),
        Some(b"binlog.000001:1009".to_vec())
    );
    assert_eq!(log.append(&batch).unwrap(), 10..15);
}

#[test]
fn torn_tail_in_a_fresh_segment_after_rollover() {
    let tmp = TempDir::new("torn-rolled");
    let mut log = ChangeLog::open(tmp.path(), opts(1000)).unwrap();
    fill(&mut log, 40, 4);
    let files = segment_files(tmp.path());
    let last = files.last().unwrap().clone();
    let base: u64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    drop(log);
    // Tear the only batch of the active segment (keep a few bytes of it).
    let len = std::fs::metadata(&last).unwrap().len();
    assert!(len > 0 && base < 40);
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(5).unwrap();
    drop(f);
    let expected_end = if len == std::fs::metadata(&last).unwrap().len() {
        40
    } else {
        base
    };
    let mut log = ChangeLog::open(tmp.path(), opts(1000)).unwrap();
    assert_eq!(log.end_offset(), expected_end);
    // The source position comes from the previous segment's last record.
    let pos = format!("binlog.000001:{}", 1000 + expected_end - 1);
    assert_eq!(log.last_source_position(), Some(pos.into_bytes()));
    assert_eq!(log.append(&[rec(base, 1)]).unwrap(), base..base + 1);
    assert_eq!(segment_files(tmp.path()).len(), files.len());
}

#[test]
fn damage_in_a_sealed_segment_is_an_error_not_a_cut() {
    let tmp = TempDir::new("sealed");
    let mut log = ChangeLog::open(tmp.path(), opts(1000)).unwrap();
    fill(&mut log, 60, 3);
    drop(log);
    let first = segment_files(tmp.path())[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    match ChangeLog::open(tmp.path(), opts(1000)) {
        Err(LogError::Corrupt { path, .. }) => assert_eq!(path, first),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A missing middle segment (a gap in offsets) is corruption too.
    bytes[mid] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    std::fs::remove_file(&segment_files(tmp.path())[1]).unwrap();
    assert!(matches!(
        ChangeLog::open(tmp.path(), opts(1000)),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn sync_every_append_round_trip_and_options() {
    let tmp = TempDir::new("sync");
    let o = LogOptions {
        sync: SyncPolicy::EveryAppend,
        ..opts(4096)
    };
    let mut log = ChangeLog::open(tmp.path(), o.clone()).unwrap();
    fill(&mut log, 100, 10);
    assert_eq!(log.append(&[]).unwrap(), 100..100);
    drop(log);
    assert_eq!(ChangeLog::open(tmp.path(), o).unwrap().end_offset(), 100);
    assert!(matches!(
        ChangeLog::open(tmp.path(), opts(0)),
        Err(LogError::InvalidOptions(_))
    ));
    // A batch bigger than a segment still goes whole into one segment.
    let mut log = ChangeLog::open(tmp.path(), opts(4096)).unwrap();
    let big: Vec<_> = (100..300).map(|i| rec(i, 1)).collect();
    assert_eq!(log.append(&big).unwrap(), 100..300);
    assert_eq!(log.read(100, usize::MAX).unwrap().len(), 200);
}

#[test]
fn concurrent_reader_sees_a_prefix_consistent_log() {
    let tmp = TempDir::new("concurrent");
    let mut log = ChangeLog::open(tmp.path(), opts(16 * 1024)).unwrap();
    let reader = log.reader();
    let done = Arc::new(AtomicBool::new(false));
    const BATCH: u64 = 7;
    const TOTAL: u64 = 7 * 3000;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let reader = reader.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut seen_end = 0;
                let mut next = 0u64;
                let mut polls = 0u64;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let end = reader.end_offset();
                    assert!(end >= seen_end, "end went backwards");
                    assert_eq!(end % BATCH, 0, "a reader saw part of a batch: end {end}");
                    seen_end = end;
                    let got = reader.read(next, 4096).unwrap();
                    for r in &got {
                        assert_eq!(r.offset, next, "gap or reordering");
                        check(r, 1000 + r.offset as i64);
                        next += 1;
                    }
                    // Nothing past a published end is ever returned.
                    assert!(next <= reader.end_offset());
                    polls += 1;
                    if finished && next == TOTAL {
                        return polls;
                    }
                }
            })
        })
        .collect();
    fill(&mut log, TOTAL, BATCH);
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 1);
    }
}

#[test]
fn offset_for_time_through_the_sparse_index() {
    // One big segment, so lookups go through many index entries; runs of 100 equal timestamps straddle
    // them, with a step back every 1000 records.
    let tmp = TempDir::new("time-index");
    let mut log = ChangeLog::open(tmp.path(), opts(1 << 20)).unwrap();
    let stamp = |o: u64| (o / 100) as i64 * 10 - if o % 1000 == 999 { 500 } else { 0 };
    for start in (0..5000u64).step_by(50) {
        let recs: Vec<_> = (start..start + 50).map(|o| rec(o, stamp(o))).collect();
        log.append(&recs).unwrap();
    }
    let brute = |t: i64| (0..5000).find(|&o| stamp(o) >= t);
    for t in -600..520 {
        assert_eq!(log.offset_for_time(t).unwrap(), brute(t), "t = {t}");
    }
}
