//! `call_http`: a durable HTTP call as a sequence of built-in activity calls, with
//! durable timers between the polls of a `202 Accepted` and between retries.

use std::future::Future;
use std::panic::Location;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;

use super::OrchestrationContext;
use crate::error::DurableError;
use crate::history::FailureDetails;
use crate::http::{
    ACTIVITY_NAME, DurableHttpRequest, DurableHttpResponse, HttpActivityInput, HttpRetryOptions,
};

impl OrchestrationContext {
    /// Makes an HTTP request durably (Durable Functions' `CallHttpAsync`) and returns the
    /// answer, whatever its status code.
    ///
    /// The request runs as the built-in activity [`ACTIVITY_NAME`]. With the asynchronous
    /// pattern on (the default), a `202 Accepted` with a `Location` is polled: the
    /// orchestration waits on a durable timer (`Retry-After`, or the request's poll
    /// interval) and GETs `Location` until the answer is not 202. The request's timeout
    /// bounds the whole call; a call that runs out of it, or of its polls, fails with
    /// [`DurableError::TaskFailed`], as does a request the host refuses to send.
    ///
    /// ```no_run
    /// # use durable_runtime::prelude::*;
    /// # use durable_runtime::http::DurableHttpRequest;
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), DurableError> {
    /// let answer = ctx.call_http(DurableHttpRequest::get("https://example.com/health")).await?;
    /// if answer.status_code >= 400 {
    ///     // the site is down
    /// }
    /// # Ok(()) }
    /// ```
    #[track_caller]
    pub fn call_http(
        &self,
        request: DurableHttpRequest,
    ) -> impl Future<Output = Result<DurableHttpResponse, DurableError>> + Send + 'static {
        let call = HttpCall {
            context: self.clone(),
            started: self.current_utc_datetime(),
            location: Location::caller(),
            request,
        };
        call.run()
    }
}

/// One durable HTTP call in progress.
struct HttpCall {
    context: OrchestrationContext,
    request: DurableHttpRequest,
    started: DateTime<Utc>,
    location: &'static Location<'static>,
}

/// A failure of the call itself, reported like a failed activity call.
fn call_failed(kind: &str, message: String) -> DurableError {
    DurableError::TaskFailed {
        name: ACTIVITY_NAME.to_owned(),
        details: FailureDetails::new(kind, message),
    }
}

impl HttpCall {
    async fn run(self) -> Result<DurableHttpResponse, DurableError> {
        let first = self.first_request();
        let mut response = self.send(first.clone()).await?;
        let mut polled_uri = first.uri.clone();
        let mut polls = 0;
        while self.request.asynchronous_pattern && response.status_code == 202 {
            let Some(location) = response.header("location") else {
                break;
            };
            let Ok(next) = Url::parse(&polled_uri).and_then(|base| base.join(location)) else {
                return Err(call_failed(
                    "HttpPollingFailed",
                    format!("the 202 answer's Location `{location}` is not a URL"),
                ));
            };
            if polls >= self.request.max_polls {
                return Err(call_failed(
                    "HttpPollingLimit",
                    format!(
                        "`{}` still answered 202 Accepted after {polls} polls (the most this call makes)",
                        self.request.uri
                    ),
                ));
            }
            let wait = retry_after(&response, self.now()).unwrap_or(self.request.poll_interval);
            self.check_time_left(wait, "polling")?;
            self.context
                .timer_at(self.now() + to_chrono(wait), self.location)
                .await?;
            polls += 1;
            let poll = self.poll_request(&first, &next);
            polled_uri = poll.uri.clone();
            response = self.send(poll).await?;
        }
        Ok(response)
    }

    fn now(&self) -> DateTime<Utc> {
        self.context.current_utc_datetime()
    }

    /// The user's request as the activity's input.
    fn first_request(&self) -> HttpActivityInput {
        let request = &self.request;
        HttpActivityInput {
            method: request.method.clone(),
            uri: request.uri.clone(),
            headers: request.headers.clone(),
            content: request.content.clone(),
            secret_headers: request.secret_headers.clone(),
            token_source: request.token_source.clone(),
            timeout_ms: None,
        }
    }

    /// The GET of a 202's `Location`: the first request's headers without a body, and on
    /// another origin without any credential or token.
    fn poll_request(&self, first: &HttpActivityInput, location: &Url) -> HttpActivityInput {
        let same_origin = Url::parse(&first.uri).is_ok_and(|url| url.origin() == location.origin());
        let headers = first
            .headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
            .filter(|(name, _)| same_origin || !first.is_sensitive(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        HttpActivityInput {
            method: "GET".to_owned(),
            uri: location.to_string(),
            headers,
            content: None,
            secret_headers: first.secret_headers.clone(),
            token_source: first.token_source.clone().filter(|_| same_origin),
            timeout_ms: None,
        }
    }

    /// How much of the call's timeout is left (`None`: it has none).
    fn time_left(&self) -> Option<Duration> {
        let timeout = self.request.timeout?;
        let elapsed = (self.now() - self.started).to_std().unwrap_or_default();
        Some(timeout.saturating_sub(elapsed))
    }

    /// Fails the call when waiting `wait` (for `what`) would outlast its timeout.
    fn check_time_left(&self, wait: Duration, what: &str) -> Result<(), DurableError> {
        match (self.time_left(), self.request.timeout) {
            (Some(left), Some(timeout)) if wait >= left => Err(call_failed(
                "HttpTimeout",
                format!(
                    "`{}` did not finish within the call's timeout of {timeout:?} ({what})",
                    self.request.uri
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Runs one request, with the request's retries.
    async fn send(
        &self,
        mut input: HttpActivityInput,
    ) -> Result<DurableHttpResponse, DurableError> {
        let mut attempt = 1;
        loop {
            input.timeout_ms = self
                .time_left()
                .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
            let outcome = self.attempt(&input).await;
            let Some(retry) = &self.request.retry else {
                return outcome;
            };
            let Some(delay) = self.retry_delay(retry, attempt, &outcome) else {
                return outcome;
            };
            if self.check_time_left(delay, "retrying").is_err() {
                return outcome;
            }
            self.context
                .timer_at(self.now() + to_chrono(delay), self.location)
                .await?;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        input: &HttpActivityInput,
    ) -> Result<DurableHttpResponse, DurableError> {
        let input = serde_json::to_value(input).map_err(|e| {
            DurableError::Serialization(format!("the HTTP request cannot be serialized: {e}"))
        });
        self.context
            .call_activity_at::<DurableHttpResponse>(ACTIVITY_NAME, input, self.location)
            .await
    }

    /// The wait before retrying attempt `attempt`, when `outcome` is to be retried.
    fn retry_delay(
        &self,
        retry: &HttpRetryOptions,
        attempt: u32,
        outcome: &Result<DurableHttpResponse, DurableError>,
    ) -> Option<Duration> {
        let failure = match outcome {
            Ok(response) if retry.status_codes.contains(&response.status_code) => {
                FailureDetails::new(
                    "HttpStatusToRetry",
                    format!("answered {}", response.status_code),
                )
            }
            Ok(_) => return None,
            Err(error) => error.task_failure()?.clone(),
        };
        let delay = retry.options.delay_after(attempt);
        let elapsed = (self.now() - self.started).to_std().unwrap_or_default() + delay;
        retry
            .options
            .should_retry(attempt, &failure, elapsed)
            .then_some(delay)
    }
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date after `now`.
fn retry_after(response: &DurableHttpResponse, now: DateTime<Utc>) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn answer(headers: &[(&str, &str)]) -> DurableHttpResponse {
        DurableHttpResponse {
            status_code: 202,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
            content: String::new(),
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&answer(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &answer(&[("retry-after", "Thu, 03 Dec 2026 10:00:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(retry_after(&answer(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&answer(&[]), now), None);
    }
}
