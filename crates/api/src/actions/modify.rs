//! ModifyDtsJobName and ModifyDtsJobPassword.

use super::{Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_core::secret::Secret;

pub fn modify_dts_job_name(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let id = p.required("DtsJobId")?;
    let name = p.required("DtsJobName")?.to_string();
    let job = ctx.job(id)?;
    ctx.state.store.modify_job(Some(&ctx.owner), &job.job_id, |j| -> Result<(), ApiError> {
        j.name = name;
        Ok(())
    })?;
    Ok(Fields::new())
}

/// Changes the account or password OpenDTS uses for one side. A running task
/// is restarted on the new credentials.
pub fn modify_dts_job_password(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let id = p.required("DtsJobId")?;
    let side = p.opt_enum("Endpoint", &["src", "dest"])?.ok_or_else(|| ApiError::missing("Endpoint"))?;
    let user = p.required("UserName")?.to_string();
    let password = p.get("Password").filter(|v| !v.is_empty()).ok_or_else(|| ApiError::missing("Password"))?;
    let job = ctx.job(id)?;
    let restart = ctx.state.store.modify_job(Some(&ctx.owner), &job.job_id, |j| -> Result<bool, ApiError> {
        let active = j.status.is_active();
        let ep = match side {
            "src" => j.source.as_mut(),
            _ => j.destination.as_mut(),
        }
        .ok_or_else(|| ApiError::invalid("Endpoint", "The task has no such endpoint configured."))?;
        if ep.password.expose() == password && ep.user_name == user {
            return Err(ApiError::invalid("Password", "The new password must differ from the current one."));
        }
        ep.user_name = user;
        ep.password = Secret::new(password);
        if active {
            j.epoch += 1;
        }
        Ok(active)
    })?;
    if restart {
        ctx.notify(&job.job_id);
    }
    Ok(Fields::new())
}
