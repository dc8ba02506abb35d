//! Errors of the host's own routes: a status code and a JSON body `{"message": ...}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use durable_runtime::DurableError;
use durable_runtime::wire::ErrorBody;

/// An error answer of the management API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 401: a key is missing or wrong; says nothing more.
    pub fn unauthorized() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message:
                "a valid key is required (the code query parameter or the x-functions-key header)"
                    .to_owned(),
        }
    }

    /// 403: the credential is valid but does not open this route.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// 412: the instance is not in the state the request needs.
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::PRECONDITION_FAILED,
            message: message.into(),
        }
    }

    /// 413: the body is over the size limit.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: message.into(),
        }
    }

    /// 415 with a message.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: message.into(),
        }
    }
}

impl ApiError {
    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What it says is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<durable_runtime::engine::store::StoreError> for ApiError {
    /// A store error as the client reports it.
    fn from(error: durable_runtime::engine::store::StoreError) -> Self {
        ApiError::from(DurableError::from(error))
    }
}

impl From<DurableError> for ApiError {
    fn from(error: DurableError) -> Self {
        let status = error.clone().into_response().status();
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody::new(self.message))).into_response()
    }
}
