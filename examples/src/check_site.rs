//! The docs' `CheckSiteAvailable`: a durable HTTP GET of a URL given as input, branching
//! on the status code.

use durable_runtime::http::DurableHttpRequest;
use durable_runtime::prelude::*;
use serde::Serialize;

/// What `CheckSiteAvailable` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteCheck {
    /// The URL checked.
    pub url: String,
    /// The status code it answered with.
    pub status_code: u16,
    /// Whether it answered with a success (2xx) code.
    pub available: bool,
}

/// GETs the URL given as input (following a 202's `Location` until it is done) and says
/// whether the site answered with success.
#[orchestration_trigger(name = "CheckSiteAvailable")]
pub async fn check_site_available(
    ctx: OrchestrationContext,
    url: String,
) -> Result<SiteCheck, DurableError> {
    let response = ctx.call_http(DurableHttpRequest::get(url.clone())).await?;
    let available = (200..300).contains(&response.status_code);
    if response.status_code >= 400 {
        // Where the docs' sample handles error codes: here, made visible as custom status.
        ctx.set_custom_status(format!("{url} answered {}", response.status_code));
    }
    Ok(SiteCheck {
        url,
        status_code: response.status_code,
        available,
    })
}
