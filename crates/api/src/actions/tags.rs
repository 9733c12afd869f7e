//! Tags on DTS instances: TagResources, UntagResources, ListTagResources,
//! DescribeTagKeys and DescribeTagValues (seed §6.5.7).

use super::{describe::paging, fields, Ctx, Fields};
use crate::error::ApiError;
use crate::params::Params;
use opendts_store::TagRow;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const RESOURCE_TYPE: &str = "ALIYUN::DTS::INSTANCE";
const MAX_TAGS_PER_INSTANCE: usize = 20;
const MAX_RESOURCES_PER_CALL: usize = 50;
const LIST_PAGE: usize = 50;

fn resource_type(p: &Params, required: bool) -> Result<(), ApiError> {
    match p.opt("ResourceType") {
        None if required => Err(ApiError::missing("ResourceType")),
        None => Ok(()),
        Some(t) if t.eq_ignore_ascii_case(RESOURCE_TYPE) => Ok(()),
        Some(_) => Err(ApiError::invalid("ResourceType", format!("Must be {RESOURCE_TYPE}."))),
    }
}

/// `ResourceId.N`, each resolved to an instance ID of the caller.
fn resources(ctx: &Ctx<'_>, p: &Params, required: bool) -> Result<Vec<String>, ApiError> {
    let ids = p.repeat_list("ResourceId", None);
    if ids.is_empty() && required {
        return Err(ApiError::missing("ResourceId.1"));
    }
    if ids.len() > MAX_RESOURCES_PER_CALL {
        return Err(ApiError::invalid("ResourceId.N", format!("At most {MAX_RESOURCES_PER_CALL} resources per call.")));
    }
    ids.iter().map(|(_, id)| ctx.job(id.trim()).map(|j| j.instance_id)).collect()
}

/// `Tag.N.Key` / `Tag.N.Value` pairs.
fn tag_pairs(p: &Params) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let values = p.repeat_list("Tag", Some("Value"));
    p.repeat_list("Tag", Some("Key"))
        .into_iter()
        .map(|(i, key)| {
            if key.trim().is_empty() {
                return Err(ApiError::invalid(&format!("Tag.{i}.Key"), "Must not be empty."));
            }
            let value = values.iter().find(|(j, _)| *j == i).map(|(_, v)| v.clone());
            Ok((key, value))
        })
        .collect()
}

pub fn tag_resources(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    resource_type(p, true)?;
    let instances = resources(ctx, p, true)?;
    let tags = tag_pairs(p)?;
    if tags.is_empty() {
        return Err(ApiError::missing("Tag.1.Key"));
    }
    let existing = ctx.state.store.tags_of_owner(&ctx.owner)?;
    for instance in &instances {
        let mut keys: BTreeSet<&str> = existing.iter().filter(|t| &t.instance_id == instance).map(|t| t.key.as_str()).collect();
        keys.extend(tags.iter().map(|(k, _)| k.as_str()));
        if keys.len() > MAX_TAGS_PER_INSTANCE {
            return Err(ApiError::invalid("Tag.N.Key", format!("An instance carries at most {MAX_TAGS_PER_INSTANCE} tags; {instance} would have {}.", keys.len())));
        }
    }
    let rows: Vec<TagRow> = instances
        .iter()
        .flat_map(|i| {
            tags.iter().map(move |(k, v)| TagRow { instance_id: i.clone(), key: k.clone(), value: v.clone().unwrap_or_default() })
        })
        .collect();
    ctx.state.store.put_tags(&ctx.owner, &rows)?;
    Ok(Fields::new())
}

pub fn untag_resources(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    resource_type(p, true)?;
    let instances = resources(ctx, p, true)?;
    let keys: Vec<String> = p.repeat_list("TagKey", None).into_iter().map(|(_, k)| k).collect();
    let all = p.bool_or("All", false)?;
    if keys.is_empty() && !all {
        return Err(ApiError::missing("TagKey.1"));
    }
    // TagKey.N wins over All when both are given (seed §6.5.7.3).
    let keys = if keys.is_empty() { None } else { Some(keys.as_slice()) };
    ctx.state.store.remove_tags(&ctx.owner, &instances, keys)?;
    Ok(Fields::new())
}

pub fn list_tag_resources(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    resource_type(p, true)?;
    let instances = resources(ctx, p, false)?;
    let tags = tag_pairs(p)?;
    if instances.is_empty() && tags.is_empty() {
        return Err(ApiError::missing("ResourceId.1"));
    }
    let start = match p.opt("NextToken") {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| ApiError::invalid("NextToken", "Use the NextToken of the previous answer."))?,
    };
    let all = ctx.state.store.tags_of_owner(&ctx.owner)?;
    // An instance matches when it is listed (if any are) and carries every
    // requested tag (if any are); all its tags are then returned.
    let carries = |instance: &str, key: &str, value: &Option<String>| {
        all.iter().any(|t| t.instance_id == instance && t.key == key && value.as_ref().is_none_or(|v| &t.value == v))
    };
    let matching: Vec<&TagRow> = all
        .iter()
        .filter(|t| instances.is_empty() || instances.contains(&t.instance_id))
        .filter(|t| tags.iter().all(|(k, v)| carries(&t.instance_id, k, v)))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(LIST_PAGE)
        .map(|t| json!({"ResourceId": t.instance_id, "ResourceType": RESOURCE_TYPE, "TagKey": t.key, "TagValue": t.value}))
        .collect();
    let next = if start + LIST_PAGE < matching.len() { (start + LIST_PAGE).to_string() } else { String::new() };
    Ok(fields([("NextToken", json!(next)), ("TagResources", json!({"TagResource": page}))]))
}

fn scoped_tags(ctx: &Ctx<'_>, p: &Params) -> Result<Vec<TagRow>, ApiError> {
    resource_type(p, false)?;
    let instance = match p.opt("ResourceId") {
        Some(id) => Some(ctx.job(id.trim())?.instance_id),
        None => None,
    };
    let all = ctx.state.store.tags_of_owner(&ctx.owner)?;
    Ok(all.into_iter().filter(|t| instance.as_ref().is_none_or(|i| &t.instance_id == i)).collect())
}

fn page_of(values: BTreeSet<String>, p: &Params) -> Result<(Vec<String>, usize, u64, u64), ApiError> {
    let (size, number) = paging(p, "PageSize", "PageNumber", 20)?;
    let total = values.len();
    let page = values.into_iter().skip(((number - 1) * size) as usize).take(size as usize).collect();
    Ok((page, total, size, number))
}

pub fn describe_tag_keys(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let keys: BTreeSet<String> = scoped_tags(ctx, p)?.into_iter().map(|t| t.key).collect();
    let (page, total, size, number) = page_of(keys, p)?;
    Ok(fields([
        ("Category", json!("Custom")),
        ("PageNumber", json!(number)),
        ("PageSize", json!(size)),
        ("TotalCount", json!(total)),
        ("TagKeys", json!(page)),
    ]))
}

pub fn describe_tag_values(ctx: &Ctx<'_>, p: &Params) -> Result<Fields, ApiError> {
    let key = p.required("Key")?.to_string();
    let values: BTreeSet<String> = scoped_tags(ctx, p)?.into_iter().filter(|t| t.key == key).map(|t| t.value).collect();
    let (page, total, size, number) = page_of(values, p)?;
    Ok(fields([
        ("Category", json!("Custom")),
        ("PageNumber", json!(number)),
        ("PageSize", json!(size)),
        ("TotalCount", json!(total)),
        ("TagValues", json!(page)),
    ]))
}
