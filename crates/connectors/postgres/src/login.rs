//! Driver login with tokio-postgres (no TLS) and the classification of its errors.

use crate::tcp::Target;
use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{FailureKind, Outcome};
use std::time::Duration;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

/// The database a login uses: the endpoint's, or `postgres` when it names none.
pub fn database(ep: &Endpoint) -> String {
    let db = ep.database_name.trim();
    if db.is_empty() { "postgres".to_string() } else { db.to_string() }
}

/// Connection settings for an endpoint.
pub fn config(ep: &Endpoint, t: &Target, timeout: Duration) -> Config {
    let mut c = Config::new();
    c.host(t.host.clone())
        .port(t.port)
        .user(ep.user_name.clone())
        .password(ep.password.expose())
        .dbname(database(ep))
        .application_name("opendts")
        .ssl_mode(SslMode::Disable)
        .connect_timeout(timeout);
    c
}

/// Logs in within `timeout`. The connection runs on a spawned task that ends
/// when the returned client is dropped.
pub async fn connect(ep: &Endpoint, t: &Target, timeout: Duration) -> Result<Client, Outcome> {
    let db = database(ep);
    match tokio::time::timeout(timeout, config(ep, t, timeout).connect(NoTls)).await {
        Ok(Ok((client, connection))) => {
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "postgres connection ended with an error");
                }
            });
            Ok(client)
        }
        Ok(Err(e)) => {
            let (kind, text) = classify(&e);
            tracing::debug!(target = %t.display(), user = %ep.user_name, ?kind, "postgres login failed");
            Err(Outcome::fail(
                kind,
                scrub(
                    &format!("Login to {} as {:?}, database {db:?} failed. Original error: {text}", t.display(), ep.user_name),
                    ep,
                ),
            ))
        }
        Err(_) => Err(Outcome::fail(
            FailureKind::Timeout,
            format!(
                "Login to {} as {:?} timed out after {} ms: the port accepts TCP connections but no PostgreSQL handshake completed.",
                t.display(),
                ep.user_name,
                timeout.as_millis()
            ),
        )),
    }
}

/// Maps a tokio-postgres error to a failure kind and a message for the user.
pub fn classify(e: &tokio_postgres::Error) -> (FailureKind, String) {
    if let Some(db) = e.as_db_error() {
        let kind = classify_sqlstate(db.code());
        return (kind, format!("{} {}: {}", db.severity(), db.code().code(), db.message()));
    }
    // The top-level message is terse ("error communicating with the server"): add the causes.
    let mut text = e.to_string();
    let mut io_kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(crate::tcp::classify_io(io));
        }
        source = s.source();
    }
    if let Some(kind) = io_kind {
        return (kind, text);
    }
    // The server asked for a password and the endpoint has none.
    if text.contains("password missing") {
        return (FailureKind::AccessDenied, text);
    }
    (FailureKind::Other, text)
}

/// SQLSTATEs met while logging in.
pub fn classify_sqlstate(code: &SqlState) -> FailureKind {
    if *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        || *code == SqlState::INSUFFICIENT_PRIVILEGE
    {
        // 28P01 wrong password (or no such role), 28000 no pg_hba entry / role may not log in,
        // 42501 no CONNECT privilege on the database.
        FailureKind::AccessDenied
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        // 3D000 the database does not exist.
        FailureKind::UnknownDatabase
    } else {
        FailureKind::Other
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
    fn sqlstates() {
        assert_eq!(classify_sqlstate(&SqlState::from_code("28P01")), FailureKind::AccessDenied);
        assert_eq!(classify_sqlstate(&SqlState::from_code("28000")), FailureKind::AccessDenied);
        assert_eq!(classify_sqlstate(&SqlState::from_code("42501")), FailureKind::AccessDenied);
        assert_eq!(classify_sqlstate(&SqlState::from_code("3D000")), FailureKind::UnknownDatabase);
        assert_eq!(classify_sqlstate(&SqlState::from_code("53300")), FailureKind::Other);
    }

    #[test]
    fn default_database_and_scrubbing() {
        let mut ep = Endpoint { password: Secret::new("hunter22"), ..Default::default() };
        assert_eq!(database(&ep), "postgres");
        ep.database_name = " shop ".into();
        assert_eq!(database(&ep), "shop");
        assert_eq!(scrub("a hunter22", &ep), "a ***");
    }
}
