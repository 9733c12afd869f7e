//! Consumer groups of change-tracking (SUBSCRIBE) tasks.
//!
//! New API (seed §6.4.6): CreateConsumerChannel, DescribeConsumerChannel,
//! ModifyConsumerChannel, DeleteConsumerChannel. Old API (seed §6.5.3.5):
//! CreateConsumerGroup, DescribeConsumerGroup, ModifyConsumerGroupPassword,
//! DeleteConsumerGroup, ModifyConsumptionTimestamp.
//!
//! OpenDTS serves every subscription through its Kafka endpoint, so the
//! seeds' split between "new-version" channels (ModifyConsumerGroupPassword
//! only) and "old-version" ones (ModifyConsumptionTimestamp only) does not
//! apply: both actions work on any SUBSCRIBE task. Passwords are only handed to
//! the store, which keeps a salted hash; no response or log line carries one.

use super::describe::paging;
use super::{fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::ids;
use opendts_core::job::Job;
use opendts_core::status::JobType;
use opendts_core::timefmt::{iso_seconds, now_millis, parse_request_timestamp};
use opendts_store::{ConsumerGroup, ConsumerGroupUpdate, ConsumptionStart, GroupChange, NewConsumerGroup};
use serde_json::{Map, Value};

const NAME_MAX_CHARS: usize = 128;
const USER_MAX_CHARS: usize = 16;
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=32;

fn random_byte() -> u8 {
    let mut b = [0u8; 1];
    // Without randomness the zero byte keeps this total; the primary key
    // catches a collision.
    let _ = getrandom::fill(&mut b);
    b[0]
}

/// `ConsumerGroupName`: 1 to 128 characters.
fn check_name(param: &str, name: &str) -> Result<(), ApiError> {
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(ApiError::invalid(param, format!("At most {NAME_MAX_CHARS} characters.")));
    }
    Ok(())
}

/// `ConsumerGroupUserName`: letters, digits and underscores, at most 16.
fn check_user_name(param: &str, user: &str) -> Result<(), ApiError> {
    if user.chars().count() > USER_MAX_CHARS || !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::invalid(param, format!("Use letters, digits and underscores only, at most {USER_MAX_CHARS} characters.")));
    }
    Ok(())
}

/// A consumer group password: 8-32 printable ASCII characters from at least
/// two of uppercase letters, lowercase letters, digits and special characters.
fn check_password(param: &str, password: &str) -> Result<(), ApiError> {
    let refuse = || {
        ApiError::invalid(
            param,
            "Use 8 to 32 printable ASCII characters (no spaces) with at least two of: uppercase letters, lowercase letters, digits, special characters.",
        )
    };
    if !PASSWORD_CHARS.contains(&password.chars().count()) || !password.chars().all(|c| c.is_ascii_graphic()) {
        return Err(refuse());
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| c.is_ascii_punctuation()),
    ];
    if classes.iter().filter(|&&present| present).count() < 2 {
        return Err(refuse());
    }
    Ok(())
}

/// A password parameter, exactly as sent (not trimmed: spaces are refused).
fn password_param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).filter(|v| !v.is_empty())
}

/// The task must be a change-tracking one, as ConfigureSubscription requires.
fn subscription(job: Job, param: &str) -> Result<Job, ApiError> {
    if job.job_type != JobType::Subscribe {
        return Err(ApiError::invalid(
            param,
            format!("The instance {} was bought for {} tasks, not change tracking: only change-tracking tasks have consumer groups.", job.instance_id, job.job_type.as_param()),
        ));
    }
    Ok(job)
}

/// New API: `DtsJobId` or `DtsInstanceId` (one required; both must agree).
fn new_api_task(ctx: &Ctx<'_>, p: &Params) -> Result<Job, ApiError> {
    let job_id = p.opt("DtsJobId").map(str::trim);
    let instance_id = p.first(&["DtsInstanceId", "DtsInstanceID"]).map(str::trim);
    let job = match (job_id, instance_id) {
        (None, None) => return Err(ApiError::missing("DtsInstanceId")),
        (Some(id), None) | (None, Some(id)) => ctx.job(id)?,
        (Some(job_id), Some(instance_id)) => {
            let job = ctx.job(job_id)?;
            if job.instance_id != instance_id && job.job_id != instance_id {
                return Err(ApiError::invalid("DtsInstanceId", "DtsInstanceId and DtsJobId name different tasks."));
            }
            job
        }
    };
    subscription(job, if job_id.is_some() { "DtsJobId" } else { "DtsInstanceId" })
}

/// Old API: `SubscriptionInstanceId` (required).
fn old_api_task(ctx: &Ctx<'_>, p: &Params) -> Result<Job, ApiError> {
    let id = p.required("SubscriptionInstanceId")?.trim();
    subscription(ctx.job(id)?, "SubscriptionInstanceId")
}

fn group_not_found(id: &str) -> ApiError {
    ApiError {
        http_status: 404,
        code: "InvalidConsumerGroupId.NotFound".into(),
        message: format!("The specified consumer group {id} does not exist in this subscription task."),
        err_message: "The specified consumer group %s does not exist in this subscription task.".into(),
        dynamic_message: id.into(),
    }
}

fn user_name_taken(param: &str) -> ApiError {
    ApiError::invalid(param, "Another consumer group of this task already uses this user name.")
}

/// `ConsumerGroupId` (new) / `ConsumerGroupID` (old): both spellings are accepted (seed §13.6).
fn group_id_param<'a>(p: &'a Params, documented: &str) -> Result<&'a str, ApiError> {
    p.first(&["ConsumerGroupId", "ConsumerGroupID"]).map(str::trim).ok_or_else(|| ApiError::missing(documented))
}

fn existing_group(ctx: &Ctx<'_>, job: &Job, group_id: &str) -> Result<ConsumerGroup, ApiError> {
    ctx.state.store.consumer_group(Some(&ctx.owner), &job.job_id, group_id)?.ok_or_else(|| group_not_found(group_id))
}

/// Validates and stores a new group; returns its ID.
fn create(ctx: &Ctx<'_>, p: &Params, job: &Job) -> Result<String, ApiError> {
    let name = p.required("ConsumerGroupName")?.trim();
    check_name("ConsumerGroupName", name)?;
    let user = p.required("ConsumerGroupUserName")?.trim();
    check_user_name("ConsumerGroupUserName", user)?;
    let password = password_param(p, "ConsumerGroupPassword").ok_or_else(|| ApiError::missing("ConsumerGroupPassword"))?;
    check_password("ConsumerGroupPassword", password)?;
    let group_id = ids::instance_id_for(&ids::new_job_id(&mut random_byte));
    let created = ctx.state.store.insert_consumer_group(&NewConsumerGroup {
        group_id: &group_id,
        job_id: &job.job_id,
        owner: &ctx.owner,
        name,
        user_name: user,
        password,
        create_ms: now_millis(),
    })?;
    if !created {
        return Err(user_name_taken("ConsumerGroupUserName"));
    }
    tracing::info!(job_id = %job.job_id, group_id = %group_id, "consumer group created");
    Ok(group_id)
}

/// What DescribeConsumerChannel and DescribeConsumerGroup report of a group's
/// consumption, from what the Kafka endpoint stored (`record_consumption`,
/// `touch_consumer`, `consumer_left`) and the task's live data range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lag {
    /// New API: newest record time of the task minus the consumed record's time, seconds.
    delay_behind_newest: i64,
    /// Old API: now minus the time of the oldest unconsumed record, seconds.
    delay_since_oldest_unconsumed: i64,
    /// Records not consumed yet.
    unconsumed: i64,
}

impl Lag {
    /// `-1` everywhere: no client is connected to the group.
    const NO_CLIENT: Lag = Lag { delay_behind_newest: -1, delay_since_oldest_unconsumed: -1, unconsumed: -1 };

    /// `range`: first and last record times (Unix ms) of the task's change log, when known.
    fn of(group: &ConsumerGroup, range: Option<(i64, i64)>, now_ms: i64) -> Lag {
        let Some(unconsumed) = group.unconsumed(now_ms) else { return Lag::NO_CLIENT };
        let secs = |ms: i64| (ms / 1000).max(0);
        // Where the group stands: its last consumed record, or before the first one.
        let consumed_to = group.checkpoint_ms.or(range.map(|(begin, _)| begin));
        let delay_behind_newest = match (range, consumed_to) {
            (Some((_, newest)), Some(at)) => secs(newest - at),
            _ => 0,
        };
        // The oldest unconsumed record follows the checkpoint; its time is not
        // stored, so the checkpoint stands for it (the figure is an upper bound).
        let delay_since_oldest_unconsumed = match consumed_to {
            Some(at) if unconsumed > 0 => secs(now_ms - at),
            _ => 0,
        };
        Lag { delay_behind_newest, delay_since_oldest_unconsumed, unconsumed }
    }
}

fn checkpoint(group: &ConsumerGroup) -> Value {
    Value::String(group.checkpoint_ms.map(iso_seconds).unwrap_or_default())
}

/// Reads one page of a task's groups with their lag.
fn page(ctx: &Ctx<'_>, job: &Job, size: u64, number: u64) -> Result<(u64, Vec<(ConsumerGroup, Lag)>), ApiError> {
    let offset = (number - 1).saturating_mul(size);
    let (total, groups) = ctx.state.store.consumer_groups(Some(&ctx.owner), &job.job_id, offset, size)?;
    let range = ctx.state.engine.change_log_range(&job.job_id);
    let now = now_millis();
    Ok((total, groups.into_iter().map(|g| {
        let lag = Lag::of(&g, range, now);
        (g, lag)
    }).collect()))
}

// ----------------------------------------------------------------------------------------------
// New API
// ----------------------------------------------------------------------------------------------

pub fn create_consumer_channel(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let job = new_api_task(ctx, p)?;
    let group_id = create(ctx, p, &job)?;
    Ok(fields([("ConsumerGroupID", Value::String(group_id))]))
}

pub fn describe_consumer_channel(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let job = new_api_task(ctx, p)?;
    let (size, number) = paging(p, "PageSize", "PageNumber", 20)?;
    // OpenDTS has no distributed subscriptions: a parent channel matches nothing.
    let (total, groups) = if p.opt("ParentChannelId").is_some() { (0, Vec::new()) } else { page(ctx, &job, size, number)? };
    let channels: Vec<Value> = groups
        .iter()
        .map(|(g, lag)| {
            let mut m = Map::new();
            m.insert("ConsumerGroupId".into(), Value::String(g.group_id.clone()));
            m.insert("ConsumerGroupName".into(), Value::String(g.name.clone()));
            m.insert("ConsumerGroupUserName".into(), Value::String(g.user_name.clone()));
            m.insert("ConsumptionCheckpoint".into(), checkpoint(g));
            m.insert("MessageDelay".into(), Value::from(lag.delay_behind_newest));
            m.insert("UnconsumedData".into(), Value::from(lag.unconsumed));
            Value::Object(m)
        })
        .collect();
    Ok(fields([
        ("PageNumber", Value::from(number)),
        ("PageRecordCount", Value::from(channels.len())),
        ("TotalRecordCount", Value::from(total)),
        ("ConsumerChannels", Value::Array(channels)),
    ]))
}

pub fn modify_consumer_channel(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let group_id = group_id_param(p, "ConsumerGroupId")?;
    let job = new_api_task(ctx, p)?;
    let name = p.opt("ConsumerGroupName").map(str::trim);
    if let Some(name) = name {
        check_name("ConsumerGroupName", name)?;
    }
    let user = p.opt("ConsumerGroupUserName").map(str::trim);
    if let Some(user) = user {
        check_user_name("ConsumerGroupUserName", user)?;
    }
    let password = password_param(p, "ConsumerGroupPassword");
    if let Some(password) = password {
        check_password("ConsumerGroupPassword", password)?;
    }
    if name.is_none() && user.is_none() && password.is_none() {
        return Err(ApiError::invalid(
            "ConsumerGroupId",
            "Nothing to change: give ConsumerGroupName, ConsumerGroupUserName or ConsumerGroupPassword.",
        ));
    }
    let change = ConsumerGroupUpdate {
        name: name.map(String::from),
        user_name: user.map(String::from),
        password: password.map(String::from),
    };
    match ctx.state.store.modify_consumer_group(Some(&ctx.owner), &job.job_id, group_id, &change)? {
        GroupChange::Done => {
            tracing::info!(job_id = %job.job_id, group_id = %group_id, "consumer group changed");
            Ok(Fields::new())
        }
        GroupChange::NotFound => Err(group_not_found(group_id)),
        GroupChange::UserNameTaken => Err(user_name_taken("ConsumerGroupUserName")),
    }
}

fn delete(ctx: &Ctx<'_>, job: &Job, group_id: &str) -> Result<Fields, ApiError> {
    if !ctx.state.store.delete_consumer_group(Some(&ctx.owner), &job.job_id, group_id)? {
        return Err(group_not_found(group_id));
    }
    tracing::info!(job_id = %job.job_id, group_id = %group_id, "consumer group deleted");
    Ok(Fields::new())
}

pub fn delete_consumer_channel(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let group_id = group_id_param(p, "ConsumerGroupId")?;
    let job = new_api_task(ctx, p)?;
    delete(ctx, &job, group_id)
}

// ----------------------------------------------------------------------------------------------
// Old API
// ----------------------------------------------------------------------------------------------

pub fn create_consumer_group(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let job = old_api_task(ctx, p)?;
    let group_id = create(ctx, p, &job)?;
    Ok(fields([("ConsumerGroupID", Value::String(group_id))]))
}

pub fn describe_consumer_group(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let job = old_api_task(ctx, p)?;
    let (size, number) = paging(p, "PageSize", "PageNum", 30)?;
    let (total, groups) = page(ctx, &job, size, number)?;
    let channels: Vec<Value> = groups
        .iter()
        .map(|(g, lag)| {
            let mut m = Map::new();
            m.insert("ConsumerGroupID".into(), Value::String(g.group_id.clone()));
            m.insert("ConsumerGroupName".into(), Value::String(g.name.clone()));
            m.insert("ConsumerGroupUserName".into(), Value::String(g.user_name.clone()));
            m.insert("ConsumptionCheckpoint".into(), checkpoint(g));
            m.insert("MessageDelay".into(), Value::from(lag.delay_since_oldest_unconsumed));
            m.insert("UnconsumedData".into(), Value::from(lag.unconsumed));
            Value::Object(m)
        })
        .collect();
    let count = channels.len();
    // The old API wraps lists in their element name (XML `<DescribeConsumerChannel>`).
    let mut wrapper = Map::new();
    wrapper.insert("DescribeConsumerChannel".into(), Value::Array(channels));
    Ok(fields([
        ("PageNumber", Value::from(number)),
        ("PageRecordCount", Value::from(count)),
        ("TotalRecordCount", Value::from(total)),
        ("ConsumerChannels", Value::Object(wrapper)),
    ]))
}

pub fn modify_consumer_group_password(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let group_id = group_id_param(p, "ConsumerGroupID")?;
    let new_password = password_param(p, "consumerGroupNewPassword").ok_or_else(|| ApiError::missing("consumerGroupNewPassword"))?;
    let current = password_param(p, "ConsumerGroupPassword").ok_or_else(|| ApiError::missing("ConsumerGroupPassword"))?;
    let job = old_api_task(ctx, p)?;
    check_password("consumerGroupNewPassword", new_password)?;
    let group = existing_group(ctx, &job, group_id)?;
    // ConsumerGroupName and ConsumerGroupUserName identify the group (seed: "可调用DescribeConsumerGroup查询").
    if p.opt("ConsumerGroupName").is_some_and(|n| n.trim() != group.name) {
        return Err(ApiError::invalid("ConsumerGroupName", "Not the name of this consumer group."));
    }
    if p.opt("ConsumerGroupUserName").is_some_and(|u| u.trim() != group.user_name) {
        return Err(ApiError::invalid("ConsumerGroupUserName", "Not the user name of this consumer group."));
    }
    let verified = ctx.state.store.verify_consumer_password(&job.job_id, &group.user_name, current)?;
    if verified.is_none_or(|g| g.group_id != group.group_id) {
        return Err(ApiError::invalid("ConsumerGroupPassword", "Not the current password of this consumer group."));
    }
    if new_password == current {
        return Err(ApiError::invalid("consumerGroupNewPassword", "The new password must differ from the current one."));
    }
    let change = ConsumerGroupUpdate { password: Some(new_password.to_string()), ..Default::default() };
    match ctx.state.store.modify_consumer_group(Some(&ctx.owner), &job.job_id, group_id, &change)? {
        GroupChange::Done => {
            tracing::info!(job_id = %job.job_id, group_id = %group_id, "consumer group password changed");
            Ok(Fields::new())
        }
        GroupChange::NotFound | GroupChange::UserNameTaken => Err(group_not_found(group_id)),
    }
}

pub fn delete_consumer_group(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let group_id = group_id_param(p, "ConsumerGroupID")?;
    let job = old_api_task(ctx, p)?;
    delete(ctx, &job, group_id)
}

/// Stores where the task's consumers start reading; the Kafka endpoint seeks
/// there (`Store::consumption_start`). While the change log's data range is
/// known, the time must lie in it (or between its end and now).
pub fn modify_consumption_timestamp(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let raw = p.required("ConsumptionTimestamp")?.trim();
    let job = old_api_task(ctx, p)?;
    let when = parse_request_timestamp(raw)
        .ok_or_else(|| ApiError::invalid("ConsumptionTimestamp", "Expected a UTC time as yyyy-MM-ddTHH:mm:ssZ."))?;
    let at_ms = i64::try_from(when.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::invalid("ConsumptionTimestamp", "Out of range."))?;
    let now = now_millis();
    if at_ms > now {
        return Err(ApiError::invalid("ConsumptionTimestamp", "The time is in the future."));
    }
    if let Some((begin, _)) = ctx.state.engine.change_log_range(&job.job_id) {
        // The API speaks whole seconds: the second of the first record is in range.
        if at_ms < begin - begin.rem_euclid(1000) {
            return Err(ApiError::invalid(
                "ConsumptionTimestamp",
                format!("The subscription keeps data from {} on; choose a time in its data range.", iso_seconds(begin)),
            ));
        }
    }
    ctx.state.store.set_consumption_start(&ctx.owner, &job.job_id, ConsumptionStart { timestamp_ms: at_ms, requested_ms: now })?;
    tracing::info!(job_id = %job.job_id, consumption_timestamp = %iso_seconds(at_ms), "consumption start changed");
    Ok(Fields::new())
}

/// DescribeSubscriptionMeta: where the consumer group `Sid` reads — its
/// subscription's topic, objects, the endpoint and the group's checkpoint.
/// OpenDTS subscriptions are not split into sub-tasks: the one entry is the
/// group's own subscription, listed when `SubMigrationJobIds` names its task
/// (or instance) or `Topics` names its topic.
pub fn describe_subscription_meta(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let sid = p.required("Sid")?.trim();
    let list = |name: &str| -> Vec<String> {
        p.opt(name).map(|v| v.trim_matches(|c| c == '[' || c == ']').split(',').map(|s| s.trim().trim_matches('"').to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    };
    let (jobs, topics) = (list("SubMigrationJobIds"), list("Topics"));
    if jobs.is_empty() && topics.is_empty() {
        return Err(ApiError::missing("SubMigrationJobIds"));
    }
    let group = ctx.state.store.consumer_group_by_id(sid)?.ok_or_else(|| group_not_found(sid))?;
    // Another tenant's group is as unknown as a missing one.
    let job = ctx.state.store.get_job(Some(&ctx.owner), &group.job_id)?.ok_or_else(|| group_not_found(sid))?;
    let topic = opendts_engine::consumers::topic_name(&job);
    let wanted = jobs.iter().any(|j| *j == job.job_id || *j == job.instance_id) || topics.contains(&topic);
    let mut meta = Vec::new();
    if wanted {
        let mut entry = Map::new();
        entry.insert("Sid".into(), Value::from(group.group_id.clone()));
        entry.insert("Topic".into(), Value::from(topic));
        entry.insert("DBList".into(), Value::from(job.db_list.clone().unwrap_or_default()));
        entry.insert("DProxyUrl".into(), Value::from(ctx.state.subscription_host.clone().unwrap_or_default()));
        entry.insert("Checkpoint".into(), Value::from(group.checkpoint_ms.map_or(0, |ms| ms.div_euclid(1000))));
        meta.push(Value::Object(entry));
    }
    Ok(fields([("SubscriptionMetaList", Value::Array(meta)), ("Success", Value::from("true"))]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opendts_store::ConsumptionClient;

    #[test]
    fn user_names_follow_the_seed_rule() {
        assert!(check_user_name("U", "dtstest").is_ok());
        assert!(check_user_name("U", "A_b_9").is_ok());
        assert!(check_user_name("U", "sixteen_chars_16").is_ok());
        assert!(check_user_name("U", "seventeen_chars17").is_err());
        assert!(check_user_name("U", "bad-name").is_err());
        assert!(check_user_name("U", "bäd").is_err());
        assert_eq!(check_user_name("ConsumerGroupUserName", "a b").unwrap_err().dynamic_message, "ConsumerGroupUserName");
    }

    #[test]
    fn passwords_need_length_and_two_classes() {
        assert!(check_password("P", "Test123456").is_ok());
        assert!(check_password("P", "abcdefg!").is_ok());
        assert!(check_password("P", "12345678").is_err(), "one class");
        assert!(check_password("P", "abcdefgh").is_err(), "one class");
        assert!(check_password("P", "Ab1").is_err(), "too short");
        assert!(check_password("P", &format!("Ab{}", "1".repeat(31))).is_err(), "too long");
        assert!(check_password("P", &format!("Ab{}", "1".repeat(30))).is_ok());
        assert!(check_password("P", "Test 123456").is_err(), "no spaces");
        assert!(check_password("P", "Tést123456").is_err(), "ASCII only");
    }

    #[test]
    fn names_up_to_128_characters() {
        assert!(check_name("N", &"订".repeat(128)).is_ok());
        assert!(check_name("N", &"a".repeat(129)).is_err());
    }

    fn group(checkpoint_ms: Option<i64>, offset: Option<i64>, end: Option<i64>, seen: Option<i64>, connected: bool) -> ConsumerGroup {
        ConsumerGroup {
            group_id: "dtsg".into(),
            job_id: "j".into(),
            owner: "ak".into(),
            name: "n".into(),
            user_name: "u".into(),
            create_ms: 0,
            committed_offset: offset,
            checkpoint_ms,
            log_end_offset: end,
            client: seen.map(|_| ConsumptionClient::default()),
            client_seen_ms: seen,
            connected,
        }
    }

    #[test]
    fn lag_is_minus_one_without_a_client() {
        let now = 1_000_000;
        assert_eq!(Lag::of(&group(None, None, None, None, false), Some((0, 10)), now), Lag::NO_CLIENT);
        assert_eq!(Lag::of(&group(Some(5), Some(3), Some(9), Some(now), false), Some((0, 10)), now), Lag::NO_CLIENT);
        let stale = now - opendts_store::CLIENT_TIMEOUT_MS - 1;
        assert_eq!(Lag::of(&group(Some(5), Some(3), Some(9), Some(stale), true), Some((0, 10)), now), Lag::NO_CLIENT);
    }

    #[test]
    fn lag_follows_the_checkpoint_and_the_data_range() {
        let now = 100_000;
        // Consumed up to 40 s; the log's newest record is at 90 s; 4 records left.
        let lag = Lag::of(&group(Some(40_000), Some(6), Some(10), Some(now), true), Some((10_000, 90_000)), now);
        assert_eq!(lag, Lag { delay_behind_newest: 50, delay_since_oldest_unconsumed: 60, unconsumed: 4 });
        // Caught up.
        let lag = Lag::of(&group(Some(90_000), Some(10), Some(10), Some(now), true), Some((10_000, 90_000)), now);
        assert_eq!(lag, Lag { delay_behind_newest: 0, delay_since_oldest_unconsumed: 0, unconsumed: 0 });
        // Connected but nothing consumed yet: behind by the whole range.
        let lag = Lag::of(&group(None, None, Some(3), Some(now), true), Some((10_000, 90_000)), now);
        assert_eq!(lag, Lag { delay_behind_newest: 80, delay_since_oldest_unconsumed: 90, unconsumed: 3 });
        // No data range known (the capture is not running).
        let lag = Lag::of(&group(Some(40_000), Some(6), Some(6), Some(now), true), None, now);
        assert_eq!(lag, Lag { delay_behind_newest: 0, delay_since_oldest_unconsumed: 0, unconsumed: 0 });
    }
}
