//! Request extractors for `/api/v4` whose rejections are GitLab's 400
//! `{"message": …}` like every other API error, instead of axum's plain
//! text: a body that is not JSON or has the wrong shape, a non-numeric id in
//! the path, a bad query parameter.

use super::error::AppError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};

/// A 400 with `why` for the person.
pub fn bad(why: impl Into<String>) -> AppError {
    AppError::BadRequest(why.into())
}

/// A JSON request body whose rejections are `{"message"}` like every other
/// API error: 400 when it is not JSON, has the wrong shape or content
/// type, 413 when it is over [`MAX_BODY`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

/// The largest request body the server reads: 8 MiB (a CI job's trace
/// update is the largest there is).
pub const MAX_BODY: usize = 8 << 20;

/// A JSON body's rejection in the API's words: what is wrong and where
/// (serde's line and column), without axum's phrasing or our type names;
/// 413 for a body over [`MAX_BODY`].
fn json_problem(rejection: &JsonRejection) -> AppError {
    let text = rejection.body_text();
    // "Failed to …: <serde's words>": serde's words, where they are.
    let detail = text.split_once(": ").map_or(text.as_str(), |(_, detail)| detail);
    let detail = without_type_names(detail);
    match rejection {
        JsonRejection::MissingJsonContentType(_) => bad("send the body as JSON, with Content-Type: application/json"),
        JsonRejection::JsonSyntaxError(_) => bad(format!("the body is not valid JSON: {detail}")),
        JsonRejection::JsonDataError(_) => bad(format!("the body's JSON does not fit: {detail}")),
        _ if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::TooLarge(format!("the body is too large (at most {} MiB)", MAX_BODY >> 20))
        }
        _ => bad(format!("the body could not be read: {detail}")),
    }
}

/// serde's words with "expected struct UpdateCluster" (our type's name)
/// as "expected an object"; nothing else is touched.
fn without_type_names(detail: &str) -> String {
    const EXPECTED: &str = "expected struct ";
    let Some(at) = detail.find(EXPECTED) else { return detail.to_string() };
    let after = &detail[at + EXPECTED.len()..];
    let name_end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
    format!("{}expected an object{}", &detail[..at], &after[name_end..])
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

#[cfg(test)]
mod tests {
    use super::without_type_names;

    #[test]
    fn serde_words_lose_our_type_names() {
        assert_eq!(
            without_type_names("invalid length 0, expected struct UpdateCluster with 1 element at line 1 column 2"),
            "invalid length 0, expected an object with 1 element at line 1 column 2"
        );
        assert_eq!(without_type_names("missing field `name` at line 1 column 2"), "missing field `name` at line 1 column 2");
        // Words quoted back from the body stay as they are.
        let quoted = "unknown variant `struct X`, expected `a` at line 1 column 9";
        assert_eq!(without_type_names(quoted), quoted);
    }
}
