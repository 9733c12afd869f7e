//! The "Telnet" test: resolve the endpoint address and open a plain TCP connection.

use opendts_core::endpoint::Endpoint;
use opendts_core::probe::{FailureKind, Outcome};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// A validated host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP literal, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl Target {
    /// `host:port`, with brackets around IPv6 literals.
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Reads the address of an endpoint; a failed [`Outcome`] when it is unusable.
pub fn target(ep: &Endpoint) -> Result<Target, Outcome> {
    let host = ep.ip.trim();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(Outcome::fail(
            FailureKind::NotSupported,
            "The endpoint has no IP address or host name: OpenDTS reaches databases by address \
             (set the EndpointIP and EndpointPort parameters).",
        ));
    }
    if host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
        return Err(Outcome::fail(FailureKind::Other, format!("Invalid host name or IP address: {host:?}")));
    }
    let port_text = ep.port.trim();
    if port_text.is_empty() {
        return Err(Outcome::fail(FailureKind::NotSupported, "The endpoint has no port (set EndpointPort)."));
    }
    match ep.port_number() {
        Some(port) if port != 0 => Ok(Target { host: host.to_string(), port }),
        _ => Err(Outcome::fail(
            FailureKind::Other,
            format!("Invalid port {port_text:?}: expected a number between 1 and 65535."),
        )),
    }
}

/// Maps an I/O error of a connection attempt to a failure kind.
pub fn classify_io(err: &io::Error) -> FailureKind {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => FailureKind::ConnectionRefused,
        io::ErrorKind::TimedOut => FailureKind::Timeout,
        _ => FailureKind::Other,
    }
}

/// Resolves the host and connects to the first address that answers, all within `timeout`.
pub async fn connect_test(t: &Target, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((t.host.as_str(), t.port))).await {
            Err(_) => {
                return Outcome::fail(
                    FailureKind::Timeout,
                    format!("Resolving host {:?} timed out after {} ms.", t.host, timeout.as_millis()),
                )
            }
            Ok(Err(e)) => {
                return Outcome::fail(FailureKind::HostNotFound, format!("Host {:?} could not be resolved: {e}", t.host))
            }
            Ok(Ok(a)) => a.collect(),
        };
    if addrs.is_empty() {
        return Outcome::fail(FailureKind::HostNotFound, format!("Host {:?} has no address.", t.host));
    }
    let mut last: Option<(FailureKind, String)> = None;
    for addr in &addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => {
                tracing::debug!(%addr, "tcp connect succeeded");
                return Outcome::pass(format!(
                    "TCP connection to {}{} succeeded in {} ms.",
                    t.display(),
                    via(t, addr),
                    started.elapsed().as_millis()
                ));
            }
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "tcp connect failed");
                last = Some((classify_io(&e), format!("TCP connection to {}{} failed: {e}", t.display(), via(t, addr))));
            }
            Err(_) => {
                last = Some((
                    FailureKind::Timeout,
                    format!(
                        "TCP connection to {}{} timed out after {} ms.",
                        t.display(),
                        via(t, addr),
                        timeout.as_millis()
                    ),
                ));
                break;
            }
        }
    }
    let (kind, detail) = last.unwrap_or((FailureKind::Other, format!("No address of {} answered.", t.display())));
    Outcome::fail(kind, detail)
}

/// ` (address)` when the host was a name, else nothing.
fn via(t: &Target, addr: &SocketAddr) -> String {
    if t.host.parse::<std::net::IpAddr>().is_ok() {
        String::new()
    } else {
        format!(" ({addr})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, port: &str) -> Endpoint {
        Endpoint { ip: ip.into(), port: port.into(), ..Default::default() }
    }

    #[test]
    fn targets() {
        assert_eq!(target(&ep(" 127.0.0.1 ", "3306")), Ok(Target { host: "127.0.0.1".into(), port: 3306 }));
        assert_eq!(target(&ep("[::1]", "3306")).map(|t| t.display()), Ok("[::1]:3306".to_string()));
        assert_eq!(target(&ep("", "3306")).unwrap_err().failure, Some(FailureKind::NotSupported));
        assert_eq!(target(&ep("db", "")).unwrap_err().failure, Some(FailureKind::NotSupported));
        assert_eq!(target(&ep("db", "abc")).unwrap_err().failure, Some(FailureKind::Other));
        assert_eq!(target(&ep("db", "0")).unwrap_err().failure, Some(FailureKind::Other));
        assert_eq!(target(&ep("db", "70000")).unwrap_err().failure, Some(FailureKind::Other));
        assert_eq!(target(&ep("a b", "1")).unwrap_err().failure, Some(FailureKind::Other));
    }

    #[tokio::test]
    async fn unresolvable_host() {
        let t = Target { host: "opendts-no-such-host.invalid".into(), port: 3306 };
        let o = connect_test(&t, Duration::from_secs(5)).await;
        assert!(matches!(o.failure, Some(FailureKind::HostNotFound | FailureKind::Timeout)), "{o:?}");
    }

    #[tokio::test]
    async fn refused_and_accepted() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let t = Target { host: "127.0.0.1".into(), port };
        assert!(connect_test(&t, Duration::from_secs(5)).await.passed);
        drop(l);
        let o = connect_test(&t, Duration::from_secs(5)).await;
        assert_eq!(o.failure, Some(FailureKind::ConnectionRefused), "{o:?}");
    }
}
