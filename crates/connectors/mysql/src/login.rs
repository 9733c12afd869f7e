//! Driver login with mysql_async and the classification of its errors.

use crate::tcp::Target;
use mysql_async::{Conn, Error, OptsBuilder};
use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{FailureKind, Outcome};
use std::time::Duration;

/// Connection options for an endpoint. Always TCP: mysql_async would otherwise
/// switch to the server's unix socket for local addresses, and MySQL treats
/// socket logins as a different account (`'u'@'localhost'`).
pub fn opts(ep: &Endpoint, t: &Target) -> OptsBuilder {
    let db = ep.database_name.trim();
    OptsBuilder::default()
        .ip_or_hostname(t.host.clone())
        .tcp_port(t.port)
        .user(Some(ep.user_name.clone()))
        .pass(Some(ep.password.expose().to_string()))
        .db_name((!db.is_empty()).then(|| db.to_string()))
        .prefer_socket(false)
        .stmt_cache_size(0)
}

/// Opens a connection within `timeout`, or the failed [`Outcome`] explaining why not.
pub async fn connect(ep: &Endpoint, t: &Target, timeout: Duration) -> Result<Conn, Outcome> {
    match tokio::time::timeout(timeout, Conn::new(opts(ep, t))).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => {
            let (kind, text) = classify(&e);
            tracing::debug!(target = %t.display(), user = %ep.user_name, ?kind, "mysql login failed");
            Err(Outcome::fail(
                kind,
                scrub(&format!("Login to {} as {:?} failed. Original error: {text}", t.display(), ep.user_name), ep),
            ))
        }
        Err(_) => Err(Outcome::fail(
            FailureKind::Timeout,
            format!(
                "Login to {} as {:?} timed out after {} ms: the port accepts TCP connections but no MySQL handshake completed.",
                t.display(),
                ep.user_name,
                timeout.as_millis()
            ),
        )),
    }
}

/// Closes a connection, not waiting long for a polite goodbye.
pub async fn close(conn: Conn) {
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.disconnect()).await;
}

/// Maps a mysql_async error to a failure kind and a message for the user.
pub fn classify(e: &Error) -> (FailureKind, String) {
    match e {
        Error::Server(s) => (classify_server_code(s.code), format!("ERROR {} ({}): {}", s.code, s.state, s.message)),
        Error::Io(mysql_async::IoError::Io(io)) => (crate::tcp::classify_io(io), e.to_string()),
        _ => (FailureKind::Other, e.to_string()),
    }
}

/// Server error codes met while logging in.
pub fn classify_server_code(code: u16) -> FailureKind {
    match code {
        // ER_ACCESS_DENIED_ERROR, ER_DBACCESS_DENIED_ERROR (no right on the database),
        // ER_HOST_NOT_PRIVILEGED, ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL), ER_ACCOUNT_HAS_BEEN_LOCKED (MariaDB).
        1045 | 1044 | 1130 | 3118 | 4151 => FailureKind::AccessDenied,
        // ER_BAD_DB_ERROR
        1049 => FailureKind::UnknownDatabase,
        _ => FailureKind::Other,
    }
}

/// Belt and braces: no message leaves this crate with the password in it.
pub fn scrub(text: &str, ep: &Endpoint) -> String {
    let pw = ep.password.expose();
    if pw.len() >= 4 && text.contains(pw) {
        text.replace(pw, "***")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_core::secret::Secret;

    #[test]
    fn server_codes() {
        assert_eq!(classify_server_code(1045), FailureKind::AccessDenied);
        assert_eq!(classify_server_code(1044), FailureKind::AccessDenied);
        assert_eq!(classify_server_code(1049), FailureKind::UnknownDatabase);
        assert_eq!(classify_server_code(1040), FailureKind::Other);
        let e = Error::Server(mysql_async::ServerError {
            code: 1045,
            message: "Access denied for user 'dts'@'127.0.0.1' (using password: YES)".into(),
            state: "28000".into(),
        });
        let (k, text) = classify(&e);
        assert_eq!(k, FailureKind::AccessDenied);
        assert_eq!(text, "ERROR 1045 (28000): Access denied for user 'dts'@'127.0.0.1' (using password: YES)");
    }

    #[test]
    fn scrubbing() {
        let ep = Endpoint { password: Secret::new("hunter22"), ..Default::default() };
        assert_eq!(scrub("x hunter22 y", &ep), "x *** y");
        assert_eq!(scrub("plain", &ep), "plain");
    }
}
