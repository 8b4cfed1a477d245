//! The authorize contract between the relay and the app (GitLab Workhorse ↔
//! Rails): `GET <terminal.ws path>/authorize` answers `200` with content type
//! [`WORKHORSE_CONTENT_TYPE`] and a JSON body [`AuthorizeResponse`].
//!
//! Field names are GitLab's exactly (`workhorse/internal/api/channel_settings.go`,
//! `lib/gitlab/workhorse.rb` `channel_websocket`).

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The content type that marks an answer as an authorization
/// (`api.ResponseContentType`).
pub const WORKHORSE_CONTENT_TYPE: &str = "application/vnd.gitlab-workhorse+json";

/// The request header carrying the relay's JWT (HS256, `iss` [`JWT_ISSUER`]).
pub const API_REQUEST_HEADER: &str = "Gitlab-Workhorse-Api-Request";

/// The JWT issuer the app requires.
pub const JWT_ISSUER: &str = "gitlab-workhorse";

/// How old a JWT's `iat` may be, in seconds (Rails' `API_REQUEST_JWT_VALIDITY`).
pub const JWT_VALIDITY_SECS: u64 = 90;

/// The authorize answer: `{"Channel":{…}}`. Older GitLab used the key
/// `Terminal`, accepted as an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeResponse {
    /// The upstream to connect to.
    #[serde(rename = "Channel", alias = "Terminal")]
    pub channel: ChannelSettings,
}

/// Where and how the relay connects upstream (`api.ChannelSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSettings {
    /// `Subprotocols`: offered to the upstream in this order; at least one.
    #[serde(rename = "Subprotocols")]
    pub subprotocols: Vec<String>,
    /// `Url`: the `ws://` or `wss://` URL to dial.
    #[serde(rename = "Url")]
    pub url: String,
    /// `Header`: headers for the upstream handshake, Go `http.Header` shape
    /// (`{"Authorization":["Bearer …"]}`).
    #[serde(rename = "Header", default)]
    pub header: BTreeMap<String, Vec<String>>,
    /// `CAPem`: PEM roots to trust for `wss`; empty = the system's roots.
    #[serde(rename = "CAPem", default, skip_serializing_if = "String::is_empty")]
    pub ca_pem: String,
    /// `MaxSessionTime`: seconds, 0 (or `null`) = no limit.
    #[serde(rename = "MaxSessionTime", default, deserialize_with = "null_as_zero")]
    pub max_session_time: u64,
    /// `IdleTimeout` (Porthole's, not GitLab's; Workhorse ignores it): the
    /// relay ends the session after this many seconds with nothing typed
    /// and no output (close code 4012); 0 or absent = never. The
    /// application setting `terminal_idle_timeout`.
    #[serde(rename = "IdleTimeout", default, deserialize_with = "null_as_zero", skip_serializing_if = "is_zero")]
    pub idle_timeout: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

/// Why Channel settings are unusable (the relay answers 500, as Workhorse does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidChannel {
    /// `Subprotocols` is empty.
    NoSubprotocols,
    /// `Url` is not a `ws://` or `wss://` URL.
    BadUrl(String),
}

impl std::fmt::Display for InvalidChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidChannel::NoSubprotocols => f.write_str("channel settings have no subprotocols"),
            InvalidChannel::BadUrl(url) => write!(f, "channel URL is not ws:// or wss://: {url:?}"),
        }
    }
}

impl std::error::Error for InvalidChannel {}

impl ChannelSettings {
    /// Workhorse's `Validate`: at least one subprotocol, a ws/wss URL with a host.
    pub fn validate(&self) -> Result<(), InvalidChannel> {
        if self.subprotocols.is_empty() {
            return Err(InvalidChannel::NoSubprotocols);
        }
        let rest = self
            .url
            .strip_prefix("wss://")
            .or_else(|| self.url.strip_prefix("ws://"))
            .ok_or_else(|| InvalidChannel::BadUrl(self.url.clone()))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(InvalidChannel::BadUrl(self.url.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChannelSettings {
        ChannelSettings {
            subprotocols: vec!["v5.channel.k8s.io".into()],
            url: "wss://127.0.0.1:6443/api/v1/namespaces/ns/pods/web-1/exec?container=app".into(),
            header: BTreeMap::from([("Authorization".into(), vec!["Bearer t".into()])]),
            ca_pem: "-----BEGIN CERTIFICATE-----".into(),
            max_session_time: 0,
            idle_timeout: 0,
        }
    }

    #[test]
    fn gitlab_field_names() {
        let json = serde_json::to_value(AuthorizeResponse { channel: sample() }).unwrap();
        let channel = &json["Channel"];
        for key in ["Subprotocols", "Url", "Header", "CAPem", "MaxSessionTime"] {
            assert!(channel.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn rails_output_parses() {
        // What Rails renders for a runner session: no CAPem key when absent, null max time.
        let json = r#"{"Channel":{"Subprotocols":["terminal.gitlab.com"],"Url":"wss://r:8093/session/x/exec","Header":{"Authorization":["tok"]},"MaxSessionTime":null}}"#;
        let parsed: AuthorizeResponse = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.channel.max_session_time, 0);
        assert_eq!(parsed.channel.ca_pem, "");
        let legacy = r#"{"Terminal":{"Subprotocols":["channel.k8s.io"],"Url":"ws://h/x"}}"#;
        assert!(serde_json::from_str::<AuthorizeResponse>(legacy).is_ok());
    }

    #[test]
    fn validation() {
        assert_eq!(sample().validate(), Ok(()));
        let mut no_proto = sample();
        no_proto.subprotocols.clear();
        assert_eq!(no_proto.validate(), Err(InvalidChannel::NoSubprotocols));
        for url in ["https://h/x", "ws://", "wss:///x", "", "h/x"] {
            let mut bad = sample();
            bad.url = url.into();
            assert!(matches!(bad.validate(), Err(InvalidChannel::BadUrl(_))), "{url}");
        }
    }
}
