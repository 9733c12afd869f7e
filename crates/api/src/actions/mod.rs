//! One module per group of actions; [`dispatch`] maps an `Action` name to its handler.

mod configure;
mod connection;
mod consumer;
mod describe;
mod instance;
mod lifecycle;
mod modify;
mod precheck;
mod summary;
mod tags;
mod view;

use crate::error::ApiError;
use crate::params::Params;
use crate::server::AppState;
use opendts_core::job::Job;
use serde_json::{Map, Value};

/// What every handler gets: the shared state, the caller and its region.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    /// The AccessKey ID of the caller: the tenant.
    pub owner: String,
    /// `RegionId` of the request, defaulted.
    pub region: String,
}

impl Ctx<'_> {
    /// A job of the caller by job ID or instance ID.
    pub fn job(&self, id: &str) -> Result<Job, ApiError> {
        self.state.store.get_job(Some(&self.owner), id)?.ok_or_else(|| ApiError::job_not_found(id))
    }

    /// Tells the engine a job's stored status changed.
    pub fn notify(&self, job_id: &str) {
        self.state.engine.job_changed(job_id);
    }
}

/// Fields of a success response (the envelope is added by the server).
pub type Fields = Map<String, Value>;

/// Runs the action named `action`.
pub async fn dispatch(ctx: &Ctx<'_>, action: &str, p: &Params) -> Result<Fields, ApiError> {
    match action {
        "CreateDtsInstance" => instance::create_dts_instance(ctx, p),
        "ConfigureDtsJob" => configure::configure_dts_job(ctx, p),
        "ConfigureSubscription" => configure::configure_subscription(ctx, p),
        "StartDtsJob" => lifecycle::start_one(ctx, p),
        "StartDtsJobs" => lifecycle::start_many(ctx, p),
        "SuspendDtsJob" => lifecycle::suspend_one(ctx, p),
        "SuspendDtsJobs" => lifecycle::suspend_many(ctx, p),
        "StopDtsJob" => lifecycle::stop_one(ctx, p),
        "StopDtsJobs" => lifecycle::stop_many(ctx, p),
        "ResetDtsJob" => lifecycle::reset_one(ctx, p),
        "DeleteDtsJob" => lifecycle::delete_one(ctx, p),
        "DeleteDtsJobs" => lifecycle::delete_many(ctx, p),
        "ModifyDtsJobName" => modify::modify_dts_job_name(ctx, p),
        "ModifyDtsJobPassword" => modify::modify_dts_job_password(ctx, p),
        "SkipPreCheck" => precheck::skip_pre_check(ctx, p),
        "ShieldPrecheck" => precheck::shield_precheck(ctx, p),
        "DescribePreCheckStatus" => precheck::describe_pre_check_status(ctx, p),
        "DescribeDtsJobs" => describe::describe_dts_jobs(ctx, p),
        "DescribeDtsJobDetail" => describe::describe_dts_job_detail(ctx, p),
        "SummaryJobDetail" => summary::summary_job_detail(ctx, p),
        "CountJobByCondition" => summary::count_job_by_condition(ctx, p),
        "DescribeConnectionStatus" => connection::describe_connection_status(ctx, p).await,
        "TagResources" => tags::tag_resources(ctx, p),
        "UntagResources" => tags::untag_resources(ctx, p),
        "ListTagResources" => tags::list_tag_resources(ctx, p),
        "DescribeTagKeys" => tags::describe_tag_keys(ctx, p),
        "DescribeTagValues" => tags::describe_tag_values(ctx, p),
        "CreateConsumerChannel" => consumer::create_consumer_channel(ctx, p),
        "DescribeConsumerChannel" => consumer::describe_consumer_channel(ctx, p),
        "ModifyConsumerChannel" => consumer::modify_consumer_channel(ctx, p),
        "DeleteConsumerChannel" => consumer::delete_consumer_channel(ctx, p),
        "CreateConsumerGroup" => consumer::create_consumer_group(ctx, p),
        "DescribeConsumerGroup" => consumer::describe_consumer_group(ctx, p),
        "ModifyConsumerGroupPassword" => consumer::modify_consumer_group_password(ctx, p),
        "DeleteConsumerGroup" => consumer::delete_consumer_group(ctx, p),
        "ModifyConsumptionTimestamp" => consumer::modify_consumption_timestamp(ctx, p),
        "DescribeSubscriptionMeta" => consumer::describe_subscription_meta(ctx, p),
        _ => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api is not found, please check your url and method. The action {action:?} is not an OpenDTS action."),
        )),
    }
}

/// Builds a `Fields` map from `(name, value)` pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
