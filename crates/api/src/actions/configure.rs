//! ConfigureDtsJob and ConfigureSubscription: what to move, from where to where.

use super::{fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::dblist::{DbList, DbListContext};
use opendts_core::endpoint::{engine_family, Endpoint, EngineFamily};
use opendts_core::job::{Job, MigrationMode};
use opendts_core::reserve::Reserve;
use opendts_core::secret::Secret;
use opendts_core::status::{transition, JobType, Lifecycle};
use serde_json::Value;

/// Instance types that are self-managed databases reached by address.
const ADDRESSED_TYPES: &[&str] = &["OTHER", "ECS", "EXPRESS", "DG", "CEN", "LOCALINSTANCE"];

/// Reads the `<prefix>*` parameters of one endpoint.
fn endpoint(p: &Params, prefix: &str, db_name_keys: &[&str], type_required: bool) -> Result<Endpoint, ApiError> {
    let key = |suffix: &str| format!("{prefix}{suffix}");
    let instance_type = match p.opt(&key("InstanceType")) {
        Some(t) => t.trim().to_string(),
        None if type_required => return Err(ApiError::missing(&key("InstanceType"))),
        None => "OTHER".into(),
    };
    let engine_name = p.opt(&key("EngineName")).unwrap_or("MYSQL").trim().to_string();
    let port = p.opt_string(&key("Port"));
    if !port.is_empty() && !matches!(port.trim().parse::<u32>(), Ok(1..=65535)) {
        return Err(ApiError::invalid(&key("Port"), "Must be a port number between 1 and 65535."));
    }
    let ip = p.opt_string(&key("IP"));
    let addressed = ADDRESSED_TYPES.iter().any(|t| t.eq_ignore_ascii_case(&instance_type));
    if addressed && ip.is_empty() {
        return Err(ApiError::missing(&key("IP")));
    }
    if addressed && port.is_empty() {
        return Err(ApiError::missing(&key("Port")));
    }
    let database_name = p.first(&db_name_keys.iter().map(|k| k.as_ref()).collect::<Vec<_>>()).unwrap_or_default().to_string();
    if engine_family(&engine_name) == EngineFamily::PostgreSql && database_name.is_empty() {
        return Err(ApiError::missing(db_name_keys[0]));
    }
    let owner_id = p.opt_string(&key("OwnerID"));
    let role = p.opt_string(&key("Role"));
    if !owner_id.is_empty() && role.is_empty() {
        return Err(ApiError::missing(&key("Role")));
    }
    Ok(Endpoint {
        instance_type,
        engine_name,
        instance_id: p.opt_string(&key("InstanceID")),
        region: p.opt_string(&key("Region")),
        ip: ip.trim().to_string(),
        port: port.trim().to_string(),
        database_name,
        user_name: p.opt_string(&key("UserName")),
        oracle_sid: p.opt_string(&key("OracleSID")),
        owner_id,
        role,
        password: Secret::new(p.get(&key("Password")).unwrap_or_default()),
    })
}

/// The job a Configure call targets: `DtsJobId` or `DtsInstanceId`, one required.
fn target(ctx: &Ctx<'_>, p: &Params) -> Result<Job, ApiError> {
    let id = p
        .first(&["DtsJobId", "DtsInstanceId", "DtsInstanceID"])
        .ok_or_else(|| ApiError::missing("DtsJobId"))?;
    ctx.job(id)
}

fn checkpoint(p: &Params) -> Result<Option<i64>, ApiError> {
    match p.opt_i64("Checkpoint")? {
        Some(c) if c < 0 => Err(ApiError::invalid("Checkpoint", "Must be a Unix timestamp in seconds.")),
        other => Ok(other),
    }
}

fn reserve(p: &Params) -> Result<Option<String>, ApiError> {
    match p.opt("Reserve") {
        Some(r) => {
            Reserve::parse(r)?;
            Ok(Some(r.to_string()))
        }
        None => Ok(None),
    }
}

fn alerts(p: &Params, job: &mut Job) -> Result<(), ApiError> {
    job.delay_notice = p.bool_or("DelayNotice", false)?;
    job.delay_rule_time = p.opt_i64("DelayRuleTime")?;
    if job.delay_notice && job.delay_rule_time.is_none() {
        return Err(ApiError::missing("DelayRuleTime"));
    }
    job.error_notice = p.bool_or("ErrorNotice", false)?;
    Ok(())
}

fn forward_only(p: &Params) -> Result<(), ApiError> {
    if p.opt_enum("SynchronizationDirection", &["Forward", "Reverse"])? == Some("Reverse") {
        return Err(ApiError::invalid("SynchronizationDirection", "Two-way synchronization is not supported by OpenDTS yet; only Forward is."));
    }
    Ok(())
}

/// Stores the configuration, moving the job to `NotStarted` (or straight to
/// the precheck when the instance was bought with AutoStart).
fn save(ctx: &Ctx<'_>, job_id: &str, configured: Job) -> Result<Fields, ApiError> {
    let started = ctx.state.store.modify_job(Some(&ctx.owner), job_id, |job| -> Result<bool, ApiError> {
        let next = transition(job.job_type, job.status, Lifecycle::Configure, None)?;
        let auto_start = job.auto_start;
        *job = Job { status: next, epoch: job.epoch + 1, ..configured };
        if auto_start {
            job.status = transition(job.job_type, job.status, Lifecycle::Start, None)?;
        }
        Ok(auto_start)
    })?;
    // A new configuration starts the data path from scratch.
    ctx.state.store.clear_job_state(job_id)?;
    if started {
        ctx.notify(job_id);
    }
    let job = ctx.job(job_id)?;
    Ok(fields([
        ("DtsInstanceId", Value::String(job.instance_id)),
        ("DtsJobId", Value::String(job.job_id)),
    ]))
}

pub fn configure_dts_job(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let mut job = target(ctx, p)?;
    let name = p.required("DtsJobName")?.to_string();
    let job_type = p
        .opt_enum("JobType", &["MIGRATION", "SYNC"])?
        .ok_or_else(|| ApiError::missing("JobType"))?
        .parse::<JobType>()
        .map_err(|_| ApiError::invalid("JobType", "Allowed values: MIGRATION, SYNC."))?;
    if job_type != job.job_type {
        return Err(ApiError::invalid(
            "JobType",
            format!("The instance {} was bought for {} tasks.", job.instance_id, job.job_type.as_param()),
        ));
    }
    forward_only(p)?;
    let mode = MigrationMode {
        structure_initialization: p.bool_or("StructureInitialization", true)?,
        data_initialization: p.bool_or("DataInitialization", true)?,
        data_synchronization: p.bool_or("DataSynchronization", false)?,
    };
    if !(mode.structure_initialization || mode.data_initialization || mode.data_synchronization) {
        return Err(ApiError::invalid("StructureInitialization", "At least one of StructureInitialization, DataInitialization and DataSynchronization must be true."));
    }
    let db_list = p.required("DbList")?;
    DbList::parse(db_list, DbListContext::Migration)?;
    job.source = Some(endpoint(p, "SourceEndpoint", &["SourceEndpointDatabaseName", "SourceEndpointDataBaseName"], true)?);
    job.destination = Some(endpoint(
        p,
        "DestinationEndpoint",
        &["DestinationEndpointDataBaseName", "DestinationEndpointDatabaseName"],
        true,
    )?);
    job.name = name;
    job.migration_mode = mode;
    job.db_list = Some(db_list.to_string());
    job.reserve = reserve(p)?;
    job.checkpoint = checkpoint(p)?;
    alerts(p, &mut job)?;
    job.clear_results();
    let id = job.job_id.clone();
    save(ctx, &id, job)
}

pub fn configure_subscription(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let mut job = target(ctx, p)?;
    if job.job_type != JobType::Subscribe {
        return Err(ApiError::invalid(
            "DtsJobId",
            format!("The instance {} was bought for {} tasks, not change tracking.", job.instance_id, job.job_type.as_param()),
        ));
    }
    let name = p.required("DtsJobName")?.to_string();
    let db_list = p.required("DbList")?;
    DbList::parse(db_list, DbListContext::Subscription)?;
    let network = p.opt_enum("SubscriptionInstanceNetworkType", &["classic", "vpc"])?.unwrap_or("");
    if network == "vpc" {
        p.required("SubscriptionInstanceVPCId")?;
        p.required("SubscriptionInstanceVSwitchId")?;
    }
    let source = endpoint(p, "SourceEndpoint", &["SourceEndpointDatabaseName"], false)?;
    if source.family() == EngineFamily::Unsupported {
        return Err(ApiError::invalid("SourceEndpointEngineName", "Change tracking supports MySQL and PostgreSQL sources."));
    }
    job.name = name;
    job.source = Some(source);
    job.destination = None;
    job.subscription_network_type = network.into();
    job.subscription_ddl = p.bool_or("SubscriptionDataTypeDDL", true)?;
    job.subscription_dml = p.bool_or("SubscriptionDataTypeDML", true)?;
    if !(job.subscription_ddl || job.subscription_dml) {
        return Err(ApiError::invalid("SubscriptionDataTypeDML", "At least one of SubscriptionDataTypeDDL and SubscriptionDataTypeDML must be true."));
    }
    job.migration_mode = MigrationMode { data_synchronization: true, ..MigrationMode::default() };
    job.db_list = Some(db_list.to_string());
    job.reserve = reserve(p)?;
    job.checkpoint = checkpoint(p)?;
    alerts(p, &mut job)?;
    job.clear_results();
    let id = job.job_id.clone();
    save(ctx, &id, job)
}

