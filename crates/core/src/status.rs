//! Job types, job statuses and the lifecycle state machine of seed §6.4.
//!
//! The control plane asks [`transition`] whether a lifecycle action is allowed
//! in the job's current status and what status follows; the engine moves jobs
//! through the running statuses as work progresses.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What kind of task a DTS instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobType {
    Migration,
    Sync,
    Subscribe,
}

impl JobType {
    /// The request-side spelling: `MIGRATION`, `SYNC`, `SUBSCRIBE`.
    pub fn as_param(self) -> &'static str {
        match self {
            JobType::Migration => "MIGRATION",
            JobType::Sync => "SYNC",
            JobType::Subscribe => "SUBSCRIBE",
        }
    }

    /// The per-item spelling of DescribeDtsJobs (seed 001): `online`, `sync`, `subscribe`.
    pub fn as_item(self) -> &'static str {
        match self {
            JobType::Migration => "online",
            JobType::Sync => "sync",
            JobType::Subscribe => "subscribe",
        }
    }
}

impl FromStr for JobType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_uppercase().as_str() {
            "MIGRATION" => Ok(JobType::Migration),
            "SYNC" => Ok(JobType::Sync),
            "SUBSCRIBE" => Ok(JobType::Subscribe),
            _ => Err(()),
        }
    }
}

macro_rules! job_statuses {
    ($($variant:ident),* $(,)?) => {
        /// A task's `Status`, spelled exactly as the seeds spell it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum JobStatus { $($variant),* }

        impl JobStatus {
            pub const ALL: &'static [JobStatus] = &[$(JobStatus::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(JobStatus::$variant => stringify!($variant)),* }
            }
        }
    };
}

job_statuses!(
    NotConfigured,
    NotStarted,
    Prechecking,
    PrecheckFailed,
    PreCheckPass,
    Migrating,
    Initializing,
    InitializeFailed,
    Synchronizing,
    Suspending,
    MigrationFailed,
    Failed,
    Finished,
    Retrying,
    Modifying,
    ModifyFailed,
    Starting,
    Normal,
    Abnormal,
    Upgrade,
    Downgrade,
    Locked,
);

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = ();
    /// Case-insensitive, as DescribeDtsJobs filters are.
    fn from_str(s: &str) -> Result<Self, ()> {
        JobStatus::ALL
            .iter()
            .copied()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

impl JobStatus {
    /// Statuses in which the engine has work to do for the job.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            JobStatus::Prechecking
                | JobStatus::PreCheckPass
                | JobStatus::Migrating
                | JobStatus::Initializing
                | JobStatus::Synchronizing
                | JobStatus::Retrying
                | JobStatus::Modifying
                | JobStatus::Starting
                | JobStatus::Normal
                | JobStatus::Abnormal
        )
    }

    /// Statuses that mean the task failed.
    pub fn is_failed(self) -> bool {
        matches!(
            self,
            JobStatus::PrecheckFailed
                | JobStatus::InitializeFailed
                | JobStatus::MigrationFailed
                | JobStatus::Failed
                | JobStatus::ModifyFailed
        )
    }

    /// The status a job enters when its work begins after a passed precheck.
    pub fn running_for(job_type: JobType, needs_initialization: bool) -> JobStatus {
        match job_type {
            JobType::Migration => JobStatus::Migrating,
            JobType::Sync if needs_initialization => JobStatus::Initializing,
            JobType::Sync => JobStatus::Synchronizing,
            JobType::Subscribe => JobStatus::Starting,
        }
    }

    /// The failure status used once the job is past its precheck.
    pub fn failed_for(job_type: JobType) -> JobStatus {
        match job_type {
            JobType::Subscribe => JobStatus::Abnormal,
            _ => JobStatus::Failed,
        }
    }

    /// Whether a `Status` filter value of DescribeDtsJobs selects a job in this
    /// status. `MigrationFailed` (DescribeDtsJobs) and `Failed`
    /// (DescribeDtsJobDetail) name the same thing for a migration task.
    pub fn matches_filter(self, filter: JobStatus) -> bool {
        self == filter
            || matches!(
                (self, filter),
                (JobStatus::Failed, JobStatus::MigrationFailed)
                    | (JobStatus::MigrationFailed, JobStatus::Failed)
            )
    }
}

/// A lifecycle action a user can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Configure,
    Start,
    Suspend,
    Stop,
    Reset,
    Delete,
}

impl Lifecycle {
    pub fn action_name(self) -> &'static str {
        match self {
            Lifecycle::Configure => "Configure",
            Lifecycle::Start => "Start",
            Lifecycle::Suspend => "Suspend",
            Lifecycle::Stop => "Stop",
            Lifecycle::Reset => "Reset",
            Lifecycle::Delete => "Delete",
        }
    }
}

/// Why a lifecycle action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} is not allowed for a {job_type} task in status {status}: {hint}")]
pub struct TransitionRefused {
    pub action: &'static str,
    pub job_type: &'static str,
    pub status: JobStatus,
    pub hint: &'static str,
}

/// What a lifecycle action does to a job in `current` status.
///
/// `suspended_from` is the status a suspended job was in before SuspendDtsJob;
/// starting it again returns it there. Returns the next status or the reason
/// the action is refused. `Delete` returns the current status: the caller
/// removes the job.
pub fn transition(
    job_type: JobType,
    current: JobStatus,
    action: Lifecycle,
    suspended_from: Option<JobStatus>,
) -> Result<JobStatus, TransitionRefused> {
    use JobStatus as S;
    let refuse = |hint: &'static str| TransitionRefused {
        action: action.action_name(),
        job_type: job_type.as_param(),
        status: current,
        hint,
    };
    match action {
        Lifecycle::Configure => match current {
            S::NotConfigured | S::NotStarted | S::PrecheckFailed => Ok(S::NotStarted),
            _ => Err(refuse("a task can be configured only before it starts; reset or delete it first")),
        },
        Lifecycle::Start => match current {
            S::NotStarted | S::PrecheckFailed => Ok(S::Prechecking),
            S::Suspending => Ok(suspended_from.unwrap_or(S::Prechecking)),
            S::Failed | S::MigrationFailed | S::InitializeFailed | S::Abnormal => Ok(S::Prechecking),
            S::NotConfigured => Err(refuse("configure the task with ConfigureDtsJob or ConfigureSubscription first")),
            S::Finished if job_type == JobType::Migration => {
                Err(refuse("a finished migration task cannot be restarted; create a new one"))
            }
            S::Finished => Err(refuse("the task was stopped; reset it and configure it again")),
            _ => Err(refuse("the task is already running")),
        },
        Lifecycle::Suspend => match current {
            S::Prechecking | S::PreCheckPass | S::Migrating | S::Initializing | S::Synchronizing
            | S::Retrying | S::Starting | S::Normal | S::Abnormal => Ok(S::Suspending),
            S::Suspending => Err(refuse("the task is already suspended")),
            _ => Err(refuse("only a running task can be suspended")),
        },
        Lifecycle::Stop => match current {
            S::NotConfigured | S::NotStarted => Err(refuse("the task has not been started")),
            S::Finished => Err(refuse("the task is already finished")),
            _ => Ok(S::Finished),
        },
        Lifecycle::Reset => match job_type {
            JobType::Migration => Err(refuse("only synchronization and change-tracking tasks can be reset")),
            _ if current == S::NotConfigured => Err(refuse("the task is not configured yet")),
            _ => Ok(S::NotConfigured),
        },
        Lifecycle::Delete => Ok(current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus as S;

    #[test]
    fn statuses_round_trip_case_insensitively() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().to_lowercase().parse::<JobStatus>(), Ok(*s));
        }
        assert!("Running".parse::<JobStatus>().is_err());
    }

    #[test]
    fn the_main_path_of_a_sync_task() {
        let t = |cur, act| transition(JobType::Sync, cur, act, None);
        assert_eq!(t(S::NotConfigured, Lifecycle::Configure), Ok(S::NotStarted));
        assert_eq!(t(S::NotStarted, Lifecycle::Start), Ok(S::Prechecking));
        assert_eq!(t(S::Synchronizing, Lifecycle::Suspend), Ok(S::Suspending));
        assert_eq!(t(S::Synchronizing, Lifecycle::Stop), Ok(S::Finished));
        assert_eq!(t(S::Finished, Lifecycle::Reset), Ok(S::NotConfigured));
    }

    #[test]
    fn resume_returns_to_the_suspended_status() {
        let r = transition(JobType::Sync, S::Suspending, Lifecycle::Start, Some(S::Synchronizing));
        assert_eq!(r, Ok(S::Synchronizing));
    }

    #[test]
    fn invalid_actions_are_refused() {
        assert!(transition(JobType::Sync, S::NotStarted, Lifecycle::Suspend, None).is_err());
        assert!(transition(JobType::Migration, S::Migrating, Lifecycle::Reset, None).is_err());
        assert!(transition(JobType::Migration, S::Finished, Lifecycle::Start, None).is_err());
        assert!(transition(JobType::Sync, S::NotConfigured, Lifecycle::Start, None).is_err());
        assert!(transition(JobType::Sync, S::Synchronizing, Lifecycle::Configure, None).is_err());
        assert!(transition(JobType::Sync, S::NotStarted, Lifecycle::Stop, None).is_err());
    }

    #[test]
    fn failed_filter_aliases() {
        assert!(S::Failed.matches_filter(S::MigrationFailed));
        assert!(!S::Finished.matches_filter(S::Failed));
    }
}
