//! Request extractors for `/api/v4` whose rejections are GitLab's 400
//! `{"message": …}` like every other API error, instead of axum's plain
//! text: a body that is not JSON or has the wrong shape, a non-numeric id in
//! the path, a bad query parameter.

use super::error::AppError;
use axum::Json;
use axum::extract::{FromRequest, Request};

/// A 400 with `why` for the person.
pub fn bad(why: impl Into<String>) -> AppError {
    AppError::BadRequest(why.into())
}

/// A JSON request body whose rejections (not JSON, wrong shape, wrong
/// content type) are 400 `{"message"}` like every other API error.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(bad(rejection.body_text())),
        }
    }
}

/// An extractor like axum's `$inner` whose rejections are 400 `{"message"}`.
macro_rules! api_extractor {
    ($(#[$doc:meta])* $name:ident, $inner:ident) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for $name<T> {
            type Rejection = AppError;

            async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, AppError> {
                match axum::extract::$inner::<T>::from_request_parts(parts, state).await {
                    Ok(axum::extract::$inner(value)) => Ok($name(value)),
                    Err(rejection) => Err(bad(rejection.body_text())),
                }
            }
        }
    };
}

api_extractor!(
    /// Path parameters (a non-numeric id is a 400 `{"message"}`).
    ApiPath,
    Path
);
api_extractor!(
    /// Query parameters (`page=x` is a 400 `{"message"}`).
    ApiQuery,
    Query
);
