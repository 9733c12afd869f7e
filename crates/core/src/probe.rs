//! Results of reaching a database: the connectivity and authentication checks
//! behind DescribeConnectionStatus and the CHECK_CONN_* / CHECK_AUTH_* precheck items.

use serde::{Deserialize, Serialize};

/// Why a check failed, in terms a user can act upon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The host name does not resolve.
    HostNotFound,
    /// Nothing listens on the port (TCP RST).
    ConnectionRefused,
    /// No answer within the time limit (firewall, wrong address, server down).
    Timeout,
    /// The server rejected the user name or password.
    AccessDenied,
    /// The login worked but the named database does not exist.
    UnknownDatabase,
    /// The account lacks privileges the chosen steps need.
    MissingPrivilege,
    /// The endpoint is incomplete or OpenDTS cannot reach this engine yet.
    NotSupported,
    /// Anything else; the detail says what.
    Other,
}

impl FailureKind {
    /// What the user should do about it: the `connectAdvice` text and the
    /// `RepairMethod` of a failed precheck item.
    pub fn advice(self) -> &'static str {
        match self {
            FailureKind::HostNotFound => {
                "The host name does not resolve: check the address of the database."
            }
            FailureKind::ConnectionRefused => {
                "The connection was refused: check that the database is running and listens on this address and port."
            }
            FailureKind::Timeout => {
                "The connection timed out: check the address and port, and that no firewall or allow-list blocks OpenDTS."
            }
            FailureKind::AccessDenied => {
                "The database rejected the login: check the user name and password, and that the account may connect from the OpenDTS host."
            }
            FailureKind::UnknownDatabase => {
                "The database name does not exist on the server: check the database name."
            }
            FailureKind::MissingPrivilege => {
                "Grant the account the privileges listed in the failure reason, then run the precheck again."
            }
            FailureKind::NotSupported => {
                "OpenDTS does not support this database engine or endpoint configuration yet."
            }
            FailureKind::Other => "See the failure reason for details.",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub passed: bool,
    pub failure: Option<FailureKind>,
    /// Human-readable detail: what was checked, or the error the server gave.
    pub detail: String,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>) -> Self {
        Outcome { passed: true, failure: None, detail: detail.into() }
    }

    pub fn fail(kind: FailureKind, detail: impl Into<String>) -> Self {
        Outcome { passed: false, failure: Some(kind), detail: detail.into() }
    }
}

/// Connectivity of one endpoint: a TCP connection ("Telnet"), then a driver login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub tcp: Outcome,
    /// Absent when the TCP connection already failed.
    pub login: Option<Outcome>,
}

impl ProbeReport {
    pub fn passed(&self) -> bool {
        self.tcp.passed && self.login.as_ref().is_some_and(|l| l.passed)
    }

    /// The first failure, if any.
    pub fn failure(&self) -> Option<&Outcome> {
        if !self.tcp.passed {
            return Some(&self.tcp);
        }
        self.login.as_ref().filter(|l| !l.passed)
    }
}

/// Which side of a job an endpoint is; privileges differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRole {
    Source,
    Destination,
}
