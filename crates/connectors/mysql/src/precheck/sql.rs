//! Connections, row reading and error reporting shared by the precheck items.

use crate::{login, tcp};
use mysql_async::{Conn, Row, Value};
use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{FailureKind, Outcome};
use std::future::Future;
use std::time::Duration;

/// Which server a statement ran on, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

/// Logs in (always over TCP, see [`login::opts`]); a failed [`Outcome`] saying why not.
pub async fn open(ep: &Endpoint, side: Side, timeout: Duration) -> Result<Conn, Outcome> {
    let target = tcp::target(ep).map_err(|o| prefixed(side, o))?;
    login::connect(ep, &target, timeout).await.map_err(|o| prefixed(side, o))
}

fn prefixed(side: Side, o: Outcome) -> Outcome {
    Outcome { detail: format!("Could not reach the {} database: {}", side.name(), o.detail), ..o }
}

/// Runs `fut` (statements on the `side` server) within `timeout`, turning
/// errors into failed outcomes that say what was being read.
pub async fn bounded<T>(
    ep: &Endpoint,
    side: Side,
    what: &str,
    timeout: Duration,
    fut: impl Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, Outcome> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(query_failed(ep, side, what, &e)),
        Err(_) => Err(Outcome::fail(
            FailureKind::Other,
            format!(
                "Reading {what} from the {} database did not finish within {} ms: the server is overloaded or the catalog \
                 is very large. Fix: run the precheck again when the server is less busy.",
                side.name(),
                timeout.as_millis()
            ),
        )),
    }
}

/// A failed statement. Privilege errors become [`FailureKind::MissingPrivilege`]
/// (the server's message names the privilege); anything else is `Other`.
pub fn query_failed(ep: &Endpoint, side: Side, what: &str, e: &mysql_async::Error) -> Outcome {
    let (_, text) = login::classify(e);
    let kind = match e {
        // ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR,
        // ER_COLUMNACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR.
        mysql_async::Error::Server(s) if matches!(s.code, 1227 | 1142 | 1143 | 1044) => FailureKind::MissingPrivilege,
        _ => FailureKind::Other,
    };
    let advice = if kind == FailureKind::MissingPrivilege {
        " Grant the account the privilege the error names."
    } else {
        ""
    };
    Outcome::fail(
        kind,
        login::scrub(&format!("Reading {what} from the {} database failed: {text}.{advice}", side.name()), ep),
    )
}

/// Column `i` of `row` as text (`None` for NULL or a missing column), never panicking.
pub fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(v) => Some(v.to_string()),
        Value::UInt(v) => Some(v.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}
