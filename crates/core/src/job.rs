//! The job record: everything the control plane knows about one DTS instance and its task.

use crate::endpoint::Endpoint;
use crate::status::{JobStatus, JobType};
use serde::{Deserialize, Serialize};

/// Which steps the task runs (`MigrationMode` in responses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationMode {
    pub structure_initialization: bool,
    pub data_initialization: bool,
    pub data_synchronization: bool,
}

/// Progress of one phase (schema, full data, incremental).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseState {
    /// `NotStarted`, `Migrating`, `Failed`, `Finished` (and `Catched` for incremental).
    pub status: String,
    pub percent: u32,
    pub progress: String,
    pub error_message: String,
}

impl Default for PhaseState {
    fn default() -> Self {
        PhaseState {
            status: "NotStarted".into(),
            percent: 0,
            progress: "0".into(),
            error_message: String::new(),
        }
    }
}

/// One precheck item and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecheckItem {
    /// Short name, e.g. `CHECK_CONN_SRC`.
    pub item: String,
    pub order_num: u32,
    pub can_skip: bool,
    pub skip: bool,
    /// `NotStarted`, `Checking`, `Success`, `Failed`, `Warning`.
    pub state: String,
    pub failed_reason: String,
    pub repair_method: String,
    pub boot_time_ms: Option<i64>,
    pub finish_time_ms: Option<i64>,
}

impl PrecheckItem {
    /// Long name, e.g. `CHECK_CONN_SRC_DETAIL`.
    pub fn names(&self) -> String {
        format!("{}_DETAIL", self.item)
    }
}

/// The precheck of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecheckState {
    /// `NotStarted`, `Checking`, `Failed`, `Finished`.
    pub status: String,
    pub percent: u32,
    pub error_message: String,
    pub items: Vec<PrecheckItem>,
    /// Items the user chose to skip with SkipPreCheck/ShieldPrecheck; they survive a rerun.
    pub skipped: Vec<String>,
    pub boot_time_ms: Option<i64>,
    pub finish_time_ms: Option<i64>,
}

/// Automatic retries after connection failures (`RetryState` in responses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryState {
    pub retrying: bool,
    pub count: u32,
    pub error: String,
    /// When the current run of failures began.
    pub since_ms: i64,
    /// The retry window (Reserve `maxRetryTime`), in seconds.
    pub max_seconds: i64,
}

/// Throughput of the incremental phase (`Performance` in responses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// Row changes applied per second.
    pub rps: f64,
    /// Megabytes applied per second.
    pub flow_mbps: f64,
}

/// A DTS instance and its task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: String,
    pub instance_id: String,
    /// The AccessKey that owns the job: each key is a tenant.
    pub owner: String,
    pub region: String,
    pub job_type: JobType,
    pub name: String,
    pub status: JobStatus,
    /// The status before SuspendDtsJob, restored by StartDtsJob.
    pub suspended_from: Option<JobStatus>,
    /// Bumped by every user-driven change, so that the engine never writes the
    /// result of work the user has since cancelled.
    pub epoch: u64,

    // What was bought (CreateDtsInstance).
    pub instance_class: String,
    pub pay_type: String,
    pub sync_architecture: String,
    pub source_engine_hint: String,
    pub destination_engine_hint: String,
    pub source_region_hint: String,
    pub destination_region_hint: String,
    /// CreateDtsInstance `AutoStart`: start the task as soon as it is configured.
    pub auto_start: bool,

    // What was configured (ConfigureDtsJob / ConfigureSubscription).
    pub source: Option<Endpoint>,
    pub destination: Option<Endpoint>,
    pub db_list: Option<String>,
    pub reserve: Option<String>,
    pub migration_mode: MigrationMode,
    pub checkpoint: Option<i64>,
    pub subscription_ddl: bool,
    pub subscription_dml: bool,
    pub subscription_network_type: String,
    pub delay_notice: bool,
    pub delay_rule_time: Option<i64>,
    pub error_notice: bool,

    // What happened.
    pub create_time_ms: i64,
    pub finish_time_ms: Option<i64>,
    pub error_message: String,
    pub precheck: PrecheckState,
    pub structure: PhaseState,
    pub full_data: PhaseState,
    pub incremental: PhaseState,
    pub delay_ms: i64,
    #[serde(default)]
    pub retry: RetryState,
    #[serde(default)]
    pub performance: Performance,
}

impl Job {
    /// A freshly bought, unconfigured instance.
    pub fn new(job_id: String, owner: String, region: String, job_type: JobType, now_ms: i64) -> Job {
        Job {
            instance_id: crate::ids::instance_id_for(&job_id),
            job_id,
            owner,
            region,
            job_type,
            name: String::new(),
            status: JobStatus::NotConfigured,
            suspended_from: None,
            epoch: 0,
            instance_class: String::new(),
            pay_type: "PostPaid".into(),
            sync_architecture: "oneway".into(),
            source_engine_hint: String::new(),
            destination_engine_hint: String::new(),
            source_region_hint: String::new(),
            destination_region_hint: String::new(),
            auto_start: false,
            source: None,
            destination: None,
            db_list: None,
            reserve: None,
            migration_mode: MigrationMode::default(),
            checkpoint: None,
            subscription_ddl: true,
            subscription_dml: true,
            subscription_network_type: String::new(),
            delay_notice: false,
            delay_rule_time: None,
            error_notice: false,
            create_time_ms: now_ms,
            finish_time_ms: None,
            error_message: String::new(),
            precheck: PrecheckState::default(),
            structure: PhaseState::default(),
            full_data: PhaseState::default(),
            incremental: PhaseState::default(),
            delay_ms: 0,
            retry: RetryState::default(),
            performance: Performance::default(),
        }
    }

    /// Forgets every result of earlier runs (a reconfigured task starts from
    /// scratch). Items the user chose to skip stay skipped.
    pub fn clear_results(&mut self) {
        let skipped = std::mem::take(&mut self.precheck.skipped);
        self.precheck = PrecheckState { skipped, ..PrecheckState::default() };
        self.finish_time_ms = None;
        self.error_message.clear();
        self.structure = PhaseState::default();
        self.full_data = PhaseState::default();
        self.incremental = PhaseState::default();
        self.delay_ms = 0;
        self.retry = RetryState::default();
        self.performance = Performance::default();
        self.suspended_from = None;
    }

    /// Forgets the configuration and every result: ResetDtsJob.
    pub fn reset(&mut self) {
        self.clear_results();
        self.precheck.skipped.clear();
        self.name.clear();
        self.source = None;
        self.destination = None;
        self.db_list = None;
        self.reserve = None;
        self.migration_mode = MigrationMode::default();
        self.checkpoint = None;
    }
}
