//! Durable sessions on one relay: the registry of sessions a page may
//! resume, and the resuming connection's handshake.
//!
//! A `v1.porthole` session is registered under a random id with a random
//! token ([`Sessions::register`]); both go to the page in `connected`. When
//! the page's WebSocket drops without a Close, the session loop keeps the
//! upstream for `--resume-grace` and waits for an [`Attachment`]. A resuming
//! page opens `…/terminal.ws?resume=<id>`; the relay authorizes it like any
//! request — for the terminal that opened the session, whatever path the
//! resume names — (a refusal is 4004), checks that the same user asks,
//! upgrades, reads `{"type":"resume","token":…,"offset":…}` ([`handshake`])
//! and hands the socket to the session. Unknown ids, ended sessions, other
//! users and wrong tokens all get the same 4009 (a live id asked for without
//! access gets 4004; ids are 22 random characters).

use crate::codec::browser::BrowserCodec;
use crate::codec::wsframe::from_axum;
use crate::secrets::{constant_time_eq, random_id};
use axum::extract::ws::WebSocket;
use futures_util::StreamExt;
use shared::close::End;
use shared::porthole::{ClientEvent, ClientMessage, ResumeTicket, TerminalSize, decode_client};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a resuming page has to send its `resume` message.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How sessions are kept for resuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeSettings {
    /// How long a session whose browser was lost waits for it
    /// (`--resume-grace`, default 60 s); zero = sessions end with their
    /// WebSocket, as before.
    pub grace: Duration,
    /// Output bytes kept per session for replay (`--resume-buffer`,
    /// default 1 MiB).
    pub buffer: usize,
}

impl Default for ResumeSettings {
    fn default() -> Self {
        ResumeSettings { grace: Duration::from_secs(60), buffer: 1 << 20 }
    }
}

/// A browser that joins a running session, for the session loop.
pub enum Attachment {
    /// The session's own page, back after a drop.
    Resume {
        /// The upgraded WebSocket, after the handshake.
        browser: WebSocket,
        /// Output bytes the page has parsed: replay from here.
        offset: u64,
        /// The page's terminal size now, from the resume URL.
        size: Option<TerminalSize>,
    },
    /// A read-only viewer: the session answers on `feed` with the channel
    /// its output will come on ([`super::viewer`]).
    Viewer {
        /// Where the session sends the viewer's channel.
        feed: tokio::sync::oneshot::Sender<ViewerChannel>,
    },
}

/// A viewer's side of its feed: the events, and what to notify when it
/// leaves (so the session's page hears the new count at once).
pub type ViewerChannel = (mpsc::Receiver<ViewerEvent>, std::sync::Arc<tokio::sync::Notify>);

/// What the session sends a viewer.
#[derive(Debug)]
pub enum ViewerEvent {
    /// Output bytes, in order.
    Output(bytes::Bytes),
    /// The session ended so.
    End(End),
}

/// What the registry keeps of one session.
#[derive(Clone)]
struct Entry {
    token: String,
    user: Option<String>,
    audit_id: Option<String>,
    uri: http::Uri,
    attach: mpsc::Sender<Attachment>,
}

/// The relay's resumable sessions, by id.
#[derive(Clone, Default)]
pub struct Sessions {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("count", &self.len()).finish()
    }
}

/// A session's place in the registry; dropping it removes the entry.
pub struct Registration {
    id: String,
    sessions: Sessions,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.sessions.entries.lock() {
            entries.remove(&self.id);
        }
    }
}

/// A session found for a resume: who owns it and where its attachments go.
pub struct Found {
    token: String,
    /// The user the session was authorized for (`None`: signed out).
    pub user: Option<String>,
    /// The session's audit log entry, so re-authorizing a resume records
    /// no new session.
    pub audit_id: Option<String>,
    /// The request (path and query) that opened the session.
    pub uri: http::Uri,
    attach: mpsc::Sender<Attachment>,
}

impl Sessions {
    /// Registers a session of `user` (audit entry `audit_id`) that keeps its
    /// upstream for `grace` after its browser is lost. Returns the ticket
    /// for the page, the registration (drop it when the session ends) and
    /// where resumed browsers arrive.
    /// `uri` is the request that opened it: resumes and viewers are
    /// authorized for that terminal, whatever path they name.
    pub fn register(
        &self,
        user: Option<String>,
        audit_id: Option<String>,
        uri: http::Uri,
        grace: Duration,
    ) -> (ResumeTicket, Registration, mpsc::Receiver<Attachment>) {
        let (attach, attachments) = mpsc::channel(1);
        let id = random_id(22);
        let token = random_id(43);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id.clone(), Entry { token: token.clone(), user, audit_id, uri, attach });
        }
        let ticket = ResumeTicket { id: id.clone(), token, grace_seconds: grace.as_secs() };
        (ticket, Registration { id, sessions: self.clone() }, attachments)
    }

    /// The session registered as `id`, if it is still running.
    pub fn find(&self, id: &str) -> Option<Found> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(id)?.clone();
        Some(Found { token: e.token, user: e.user, audit_id: e.audit_id, uri: e.uri, attach: e.attach })
    }

    /// Sessions registered now.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// True when no session is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The resuming page's first message, checked against the session `found`;
/// on success the socket goes to the session, else the page is told why.
pub async fn handshake(mut browser: WebSocket, found: Found, size: Option<TerminalSize>) {
    let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, browser.next()).await;
    let resume = match first {
        Ok(Some(Ok(msg))) => match from_axum(msg).map(decode_client) {
            Some(Ok(ClientEvent::Control(ClientMessage::Resume { token, offset }))) => Some((token, offset)),
            _ => None,
        },
        _ => None,
    };
    let Some((token, offset)) = resume else {
        tracing::info!("a resuming browser did not start with a resume message");
        return refuse(browser, End::BrowserProtocol("a resuming connection must first send its resume token".into())).await;
    };
    if !constant_time_eq(token.as_bytes(), found.token.as_bytes()) {
        tracing::warn!("a resume gave the wrong token");
        return refuse(browser, End::NotResumable).await;
    }
    if let Err(mpsc::error::SendError(Attachment::Resume { browser, .. })) =
        found.attach.send(Attachment::Resume { browser, offset, size }).await
    {
        // The session ended between the lookup and now.
        refuse(browser, End::NotResumable).await;
    }
}

impl Found {
    /// Joins the session as a viewer: the channel its output comes on, or
    /// `None` when the session has ended meanwhile.
    pub async fn watch(&self) -> Option<ViewerChannel> {
        let (feed, answer) = tokio::sync::oneshot::channel();
        self.attach.send(Attachment::Viewer { feed }).await.ok()?;
        answer.await.ok()
    }
}

/// True for what a session id can be: 1 to 64 letters, digits, `-`, `_`
/// (ours are 22); anything else is refused before it reaches a URL.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The value of query parameter `name`, if any.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Tells a resuming browser why it gets no session.
async fn refuse(browser: WebSocket, end: End) {
    super::goodbye::refuse(browser, BrowserCodec::Porthole, end).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_come_from_the_query() {
        assert_eq!(query_param("cols=80&rows=24&resume=abc", "resume"), Some("abc"));
        assert_eq!(query_param("resume=x", "resume"), Some("x"));
        assert_eq!(query_param("resumed=x&cols=1", "resume"), None);
        assert_eq!(query_param("", "resume"), None);
        assert_eq!(query_param("view=s1", "view"), Some("s1"));
        assert!(valid_id("aZ0_-") && !valid_id("../x") && !valid_id("") && !valid_id("a%2F") && !valid_id(&"a".repeat(65)));
    }

    #[test]
    fn registrations_end_with_their_session() {
        let sessions = Sessions::default();
        let (ticket, registration, _rx) = sessions.register(Some("alice".into()), Some("7".into()), http::Uri::from_static("/t.ws"), Duration::from_secs(60));
        assert_eq!(ticket.grace_seconds, 60);
        assert_ne!(ticket.id, ticket.token);
        let found = sessions.find(&ticket.id).expect("registered");
        assert_eq!((found.user.as_deref(), found.audit_id.as_deref()), (Some("alice"), Some("7")));
        assert!(sessions.find("nope").is_none());
        drop(registration);
        assert!(sessions.find(&ticket.id).is_none());
        assert!(sessions.is_empty());
    }
}
