use opendts_connector_mysql::binlog::*;
use opendts_core::change::ChangeEvent;
use opendts_core::endpoint::Endpoint;
use opendts_core::secret::Secret;
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};

#[tokio::test]
async fn perf() {
    let ep = Endpoint { ip: "127.0.0.1".into(), port: "33099".into(), user_name: "root".into(), password: Secret::new("opendts-root"), ..Default::default() };
    let start = current_position(&ep, Duration::from_secs(10)).await.unwrap();
    let opts = mysql_async::OptsBuilder::default().ip_or_hostname("127.0.0.1").tcp_port(33099).user(Some("root")).pass(Some("opendts-root")).prefer_socket(false);
    let mut c = mysql_async::Conn::new(opts).await.unwrap();
    let n = 200_000;
    c.query_drop("CREATE DATABASE IF NOT EXISTS perf").await.unwrap();
    c.query_drop("USE perf").await.unwrap(); c.query_drop("DROP TABLE IF EXISTS perf.sb").await.unwrap();
    c.query_drop("CREATE TABLE perf.sb (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL)").await.unwrap();
    let t0 = Instant::now();
    c.query_drop(format!("INSERT INTO perf.sb SELECT seq, seq, REPEAT('c', 119), REPEAT('p', 59) FROM seq_1_to_{n}")).await.unwrap();
    c.query_drop("UPDATE perf.sb SET k = k + 1").await.unwrap();
    c.query_drop("CREATE TABLE perf.zz_end (a int)").await.unwrap();
    c.query_drop("DROP TABLE perf.zz_end").await.unwrap();
    eprintln!("server wrote in {:?}", t0.elapsed());
    let mut src = BinlogSource::connect(BinlogSourceConfig { endpoint: ep.clone(), server_id: 777, start, heartbeat: Duration::from_secs(1) }).await.unwrap();
    let t0 = Instant::now();
    let mut rows = 0usize;
    loop {
        match src.next().await.unwrap() {
            ChangeEvent::Transaction { rows: r, .. } => rows += r.len(),
            ChangeEvent::Ddl { ddl, .. } if ddl.statement.contains("zz_end") => break,
            _ => {}
        }
    }
    let el = t0.elapsed();
    eprintln!("read {rows} row changes in {el:?}: {:.0} rows/s", rows as f64 / el.as_secs_f64());
}
