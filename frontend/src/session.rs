//! The terminal on the page: one xterm.js `Terminal` for the page's
//! lifetime, connected to one WebSocket session at a time.
//!
//! - Output arrives as binary frames and is written to xterm.js as bytes
//!   (`Uint8Array`), never decoded here. A frame that ends inside a UTF-8
//!   character keeps that incomplete tail back until the next frame
//!   ([`shared::utf8::incomplete_tail`]): xterm.js 6 loses a 3-byte
//!   character split 2+1 across writes (case-005).
//! - Flow control: each write's callback counts parsed bytes, and an `ack`
//!   goes back every [`ACK_EVERY`] bytes or whenever xterm.js has caught up,
//!   so the relay never has more than a window of output in flight.
//! - Keystrokes go up as binary frames; size changes (fit to the container,
//!   watched by a `ResizeObserver`) as `resize` messages; the first size
//!   travels in the connect URL.
//! - Reconnect replaces the connection: the old socket's handlers are
//!   detached before it is closed, and the terminal's own listeners are
//!   registered once, so there are never two sessions or doubled listeners.
//! - Resume: when the WebSocket drops without an end from the relay (1006
//!   and friends), the page reopens it with `?resume=<id>` and sends the
//!   ticket's token and the count of output bytes handed to xterm.js (its
//!   write queue parses all it is given, so those are never asked for
//!   again), with backoff (0.5 s doubling to 10 s) until the relay's grace
//!   period is over. The status line says "Reconnecting… (n)"; keystrokes
//!   typed meanwhile are dropped, not sent later. Output the relay no
//!   longer held is announced in the terminal ([`porthole::lost_notice`]).

use crate::addons::{Addons, Controls};
use crate::status::Status;
use crate::xterm::{Disposable, FitAddon, Terminal, Unicode11Addon};
use js_sys::{ArrayBuffer, Uint8Array};
use leptos::prelude::{GetUntracked, Set, Update, WriteSignal};
use shared::porthole::{self, ACK_EVERY, ClientMessage, ResumeTicket, ServerMessage, TerminalSize};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, HtmlElement, MessageEvent, ResizeObserver, WebSocket};

/// When built with `PORTHOLE_DEV_WS=<prefix>` (`make dev`), the page opens its
/// WebSocket under that prefix and names the subprotocol in the query:
/// trunk serve's WebSocket proxy does not pass `Sec-WebSocket-Protocol` back.
const DEV_WS_PREFIX: Option<&str> = option_env!("PORTHOLE_DEV_WS");

/// xterm.js options (JSON, parsed once); font size, scrollback and theme
/// come from [`Addons`] (the person's preferences, the colour scheme).
const TERMINAL_OPTIONS: &str = r##"{"cursorBlink":true,"allowProposedApi":true,
  "fontFamily":"ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"}"##;

/// A pod and container to open a terminal in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
}

impl From<&shared::api::TerminalJson> for Target {
    fn from(terminal: &shared::api::TerminalJson) -> Target {
        Target { pod: terminal.pod.clone(), container: terminal.container.clone() }
    }
}

impl Target {
    /// `pod=…&container=…`, URL-encoded.
    pub fn to_query(&self) -> String {
        let enc = |s: &str| String::from(js_sys::encode_uri_component(s));
        format!("pod={}&container={}", enc(&self.pod), enc(&self.container))
    }
}

/// The page's terminal. Dropping it does not dispose it: call [`TerminalView::dispose`].
pub struct TerminalView {
    inner: Rc<Inner>,
}

struct Inner {
    term: Terminal,
    parent: HtmlElement,
    fit: FitAddon,
    /// Search, links, clipboard, renderer, preferences, title and bell.
    addons: Rc<Addons>,
    /// The page's controls (sticky Ctrl and Alt from the key bar).
    controls: Controls,
    ws_path: String,
    /// The session watched read-only (`?view=<id>`), for a viewer's page.
    view: Option<String>,
    /// The pod and container of the current session; `None` = the default.
    target: RefCell<Option<Target>>,
    set_status: WriteSignal<Status>,
    conn: RefCell<Option<Connection>>,
    generation: Cell<u32>,
    /// Output bytes of the session handed to xterm.js: where a resume
    /// starts.
    offset: Cell<u64>,
    /// How to resume the session, once the relay said how.
    resume: RefCell<Option<Resume>>,
    /// The relay warned of the idle timeout and nothing happened since.
    idle_warned: Cell<bool>,
    /// xterm.js reported a key press whose `onData` has not come yet.
    key_pressed: Cell<bool>,
    listeners: RefCell<Vec<Disposable>>,
    observer: RefCell<Option<ResizeObserver>>,
    // Closures JS holds on to; dropped with the view.
    _closures: RefCell<Vec<Box<dyn std::any::Any>>>,
}

/// A session that can be resumed, and the state of resuming it.
struct Resume {
    ticket: ResumeTicket,
    /// The status line while connected (pod, container, end time).
    connected: Status,
    /// When the connection was lost (ms since the epoch); 0 = it is not.
    lost_at: f64,
    /// Resume attempts since it was lost.
    attempt: u32,
}

/// The first wait before a resume attempt; it doubles up to [`RESUME_MAX_DELAY_MS`].
const RESUME_FIRST_DELAY_MS: f64 = 500.0;
/// The longest wait between resume attempts.
const RESUME_MAX_DELAY_MS: f64 = 10_000.0;

/// The wait before resume attempt `attempt` (from 1).
fn resume_delay_ms(attempt: u32) -> f64 {
    (RESUME_FIRST_DELAY_MS * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(RESUME_MAX_DELAY_MS)
}

/// One WebSocket session.
struct Connection {
    ws: WebSocket,
    generation: u32,
    state: Rc<RefCell<ConnState>>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

#[derive(Default)]
struct ConnState {
    opened: bool,
    exit: Option<i32>,
    end: Option<(u16, String)>,
    /// Bytes handed to xterm.js and not yet parsed.
    pending: u64,
    /// Bytes parsed and not yet acknowledged.
    unacked: u64,
    /// The start of a UTF-8 character the last frame ended in (0–3 bytes),
    /// written with the next frame; counted in `pending`.
    held: Vec<u8>,
}

/// What to write of a frame: the bytes held from the last frame, then
/// `received` up to its last complete character; what is left of a
/// character is kept in `held` for the next frame.
fn whole_characters(held: &mut Vec<u8>, received: &Uint8Array) -> Uint8Array {
    let len = received.length() as usize;
    if len < 3 {
        // Too short to judge alone: join it to what was held.
        let mut joined = std::mem::take(held);
        joined.extend(received.to_vec());
        let keep = shared::utf8::incomplete_tail(&joined);
        *held = joined.split_off(joined.len() - keep);
        return Uint8Array::from(&joined[..]);
    }
    let last = received.subarray(len as u32 - 3, len as u32).to_vec();
    let keep = shared::utf8::incomplete_tail(&last);
    let body = received.subarray(0, (len - keep) as u32);
    let before = std::mem::replace(held, last[3 - keep..].to_vec());
    if before.is_empty() {
        return body;
    }
    let out = Uint8Array::new_with_length((before.len() + body.length() as usize) as u32);
    out.set(&Uint8Array::from(&before[..]), 0);
    out.set(&body, before.len() as u32);
    out
}

impl Connection {
    /// Ends this session because the person asked for a new one: the audit
    /// log says so (`RESTART_REASON`), not "the browser closed the terminal".
    fn end_for_new_session(&self) {
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close_with_code_and_reason(1000, shared::porthole::RESTART_REASON);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // Leaving the page (or a session already ended): a plain close.
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close_with_code(1000);
        }
    }
}

impl TerminalView {
    /// Creates the terminal inside `parent`, fitted to it; not yet connected.
    /// With `view`, the page watches that session read-only: nothing typed
    /// or resized is sent. `controls` are the page's (search bar, key bar,
    /// preferences); `title_prefix` goes before titles programs set.
    pub fn open(
        parent: &HtmlElement,
        ws_path: String,
        view: Option<String>,
        set_status: WriteSignal<Status>,
        controls: Controls,
        title_prefix: String,
    ) -> TerminalView {
        let options = js_sys::JSON::parse(TERMINAL_OPTIONS).expect("options are valid JSON");
        if view.is_some() {
            let _ = js_sys::Reflect::set(&options, &"disableStdin".into(), &JsValue::TRUE);
        }
        let term = Terminal::new(&options);
        let fit = FitAddon::new();
        term.load_addon(&fit);
        term.load_addon(&Unicode11Addon::new());
        term.unicode().set_active_version("11");
        term.open(parent);
        let addons = Addons::load(&term, parent, &fit, controls, title_prefix);
        fit.fit();
        let inner = Rc::new(Inner {
            term,
            parent: parent.clone(),
            fit,
            addons,
            controls,
            ws_path,
            view,
            target: RefCell::new(None),
            set_status,
            conn: RefCell::new(None),
            generation: Cell::new(0),
            offset: Cell::new(0),
            resume: RefCell::new(None),
            idle_warned: Cell::new(false),
            key_pressed: Cell::new(false),
            listeners: RefCell::new(Vec::new()),
            observer: RefCell::new(None),
            _closures: RefCell::new(Vec::new()),
        });
        Inner::listen(&inner, parent);
        inner.publish_size();
        Inner::refit_when_fonts_load(&inner);
        TerminalView { inner }
    }

    /// Opens a new session to `target` (`None`: the environment's default
    /// terminal), ending the current one first.
    pub fn connect_to(&self, target: Option<Target>) {
        *self.inner.target.borrow_mut() = target;
        Inner::connect(&self.inner);
    }

    /// Opens a new session to the same target, ending the current one first.
    pub fn reconnect(&self) {
        Inner::connect(&self.inner);
    }

    /// A link that lets others watch this session read-only (the same page
    /// with `?view=<session id>`), once the relay has said the session's id.
    pub fn share_link(&self) -> Option<String> {
        let id = self.inner.resume.borrow().as_ref()?.ticket.id.clone();
        let location = web_sys::window()?.location();
        let mut link = format!("{}{}?{}={}", location.origin().ok()?, location.pathname().ok()?, porthole::VIEW_PARAM, id);
        if let Some(target) = self.inner.target.borrow().as_ref() {
            link.push('&');
            link.push_str(&target.to_query());
        }
        Some(link)
    }

    /// The terminal's addons (search, clipboard, preferences, …).
    pub fn addons(&self) -> &Rc<Addons> {
        &self.inner.addons
    }

    /// Focuses the terminal.
    pub fn focus(&self) {
        self.inner.term.focus();
    }

    /// Types `data` as keys (the on-screen key bar), through the sticky
    /// modifiers.
    pub fn type_key(&self, data: &str) {
        self.inner.typed(data, true);
    }

    /// Ends the session and removes the terminal.
    pub fn dispose(&self) {
        self.inner.resume.borrow_mut().take();
        self.inner.conn.borrow_mut().take();
        if let Some(observer) = self.inner.observer.borrow_mut().take() {
            observer.disconnect();
        }
        for listener in self.inner.listeners.borrow_mut().drain(..) {
            listener.dispose();
        }
        self.inner.addons.dispose();
        self.inner.term.dispose();
    }
}

impl Inner {
    /// Registers the terminal's listeners, once for the page's lifetime.
    fn listen(inner: &Rc<Inner>, parent: &HtmlElement) {
        let weak = Rc::downgrade(inner);
        let on_data = Closure::<dyn FnMut(String)>::new(move |data: String| {
            if let Some(inner) = weak.upgrade() {
                // A key: a keyboard's (arrows send several bytes), or one
                // character (a phone's keyboard has no key events). Not a
                // paste or a reply the terminal sends by itself (mouse,
                // status, OSC 52).
                let key = inner.key_pressed.replace(false) || data.chars().nth(1).is_none();
                inner.typed(&data, key);
            }
        });
        let weak = Rc::downgrade(inner);
        let on_binary = Closure::<dyn FnMut(String)>::new(move |data: String| {
            // One char per byte (xterm.js's binary string).
            let bytes: Vec<u8> = data.chars().map(|c| c as u32 as u8).collect();
            if let Some(inner) = weak.upgrade() {
                inner.send_bytes(&bytes);
            }
        });
        let weak = Rc::downgrade(inner);
        let on_key = Closure::<dyn FnMut(JsValue)>::new(move |_key: JsValue| {
            if let Some(inner) = weak.upgrade() {
                inner.key_pressed.set(true);
            }
        });
        let weak = Rc::downgrade(inner);
        let on_resize = Closure::<dyn FnMut(JsValue)>::new(move |_size: JsValue| {
            if let Some(inner) = weak.upgrade() {
                let size = inner.publish_size();
                inner.send_control(&ClientMessage::Resize { cols: size.cols, rows: size.rows });
            }
        });
        let weak = Rc::downgrade(inner);
        let on_observe = Closure::<dyn FnMut(JsValue)>::new(move |_entries: JsValue| {
            if let Some(inner) = weak.upgrade() {
                inner.fit.fit();
            }
        });
        {
            let mut listeners = inner.listeners.borrow_mut();
            listeners.push(inner.term.on_data(&on_data));
            listeners.push(inner.term.on_binary(&on_binary));
            listeners.push(inner.term.on_key(&on_key));
            listeners.push(inner.term.on_resize(&on_resize));
        }
        if let Ok(observer) = ResizeObserver::new(on_observe.as_ref().unchecked_ref()) {
            observer.observe(parent);
            *inner.observer.borrow_mut() = Some(observer);
        }
        inner._closures.borrow_mut().extend([
            Box::new(on_data) as Box<dyn std::any::Any>,
            Box::new(on_binary),
            Box::new(on_key),
            Box::new(on_resize),
            Box::new(on_observe),
        ]);
    }

    /// Fits again once the page's fonts have loaded: the first fit may have
    /// measured a fallback font's cells.
    fn refit_when_fonts_load(inner: &Rc<Inner>) {
        let fonts = web_sys::window().and_then(|w| w.document()).and_then(|d| js_sys::Reflect::get(&d, &"fonts".into()).ok());
        let Some(ready) = fonts.and_then(|f| js_sys::Reflect::get(&f, &"ready".into()).ok()).and_then(|r| r.dyn_into::<js_sys::Promise>().ok())
        else {
            return;
        };
        let weak = Rc::downgrade(inner);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(ready).await;
            if let Some(inner) = weak.upgrade() {
                inner.fit.fit();
            }
        });
    }

    fn size(&self) -> TerminalSize {
        let clamp = |n: u32| n.clamp(1, porthole::MAX_TERMINAL_SIDE.into()) as u16;
        TerminalSize { cols: clamp(self.term.cols()), rows: clamp(self.term.rows()) }
    }

    /// The size, also kept in the container's `data-cols`/`data-rows`
    /// (the end-to-end tests compare them with `stty size`).
    fn publish_size(&self) -> TerminalSize {
        let size = self.size();
        let _ = self.parent.set_attribute("data-cols", &size.cols.to_string());
        let _ = self.parent.set_attribute("data-rows", &size.rows.to_string());
        size
    }

    fn url(&self) -> String {
        let location = web_sys::window().expect("a window").location();
        let scheme = if location.protocol().as_deref() == Ok("https:") { "wss" } else { "ws" };
        let host = location.host().unwrap_or_default();
        let mut query = self.size().to_query();
        if let Some(target) = self.target.borrow().as_ref() {
            query.push('&');
            query.push_str(&target.to_query());
        }
        if let Some(id) = &self.view {
            query.push_str(&format!("&{}={}", porthole::VIEW_PARAM, String::from(js_sys::encode_uri_component(id))));
        }
        match DEV_WS_PREFIX {
            Some(prefix) => format!("{scheme}://{host}{prefix}{}?{query}&subprotocol={}", self.ws_path, porthole::SUBPROTOCOL),
            None => format!("{scheme}://{host}{}?{query}", self.ws_path),
        }
    }

    fn connect(inner: &Rc<Inner>) {
        // Detach and close the old session before anything else.
        let old = inner.conn.borrow_mut().take();
        if let Some(old) = old {
            old.end_for_new_session();
        }
        inner.resume.borrow_mut().take();
        inner.offset.set(0);
        inner.term.reset();
        inner.fit.fit();
        inner.set_status.set(Status::Connecting);
        let url = inner.url();
        Inner::open(inner, &url, None);
    }

    /// Resumes the session after a lost connection (`?resume=<id>`, then
    /// the token and offset as the first message).
    fn resume_now(inner: &Rc<Inner>) {
        let Some((id, token)) = inner.resume.borrow().as_ref().map(|r| (r.ticket.id.clone(), r.ticket.token.clone())) else {
            return;
        };
        let url = format!("{}&{}={}", inner.url(), porthole::RESUME_PARAM, String::from(js_sys::encode_uri_component(&id)));
        Inner::open(inner, &url, Some(ClientMessage::Resume { token, offset: inner.offset.get() }));
    }

    /// Opens a WebSocket to `url` as the current connection; `hello` is
    /// sent first once it is open.
    fn open(inner: &Rc<Inner>, url: &str, hello: Option<ClientMessage>) {
        let generation = inner.generation.get().wrapping_add(1);
        inner.generation.set(generation);
        let ws = match DEV_WS_PREFIX {
            Some(_) => WebSocket::new(url),
            None => WebSocket::new_with_str(url, porthole::SUBPROTOCOL),
        };
        let ws = match ws {
            Ok(ws) => ws,
            Err(_) => {
                inner.set_status.set(Status::Failed);
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let state = Rc::new(RefCell::new(ConnState::default()));

        let st = state.clone();
        let socket = ws.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            st.borrow_mut().opened = true;
            if let Some(hello) = &hello {
                send_control_on(&socket, hello);
            }
        });

        let weak = Rc::downgrade(inner);
        let st = state.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.on_message(&st, generation, event);
            }
        });

        let weak = Rc::downgrade(inner);
        let st = state.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.on_close(&st, event);
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        *inner.conn.borrow_mut() =
            Some(Connection { ws, generation, state, _on_open: on_open, _on_message: on_message, _on_close: on_close });
        inner.term.focus();
    }

    /// Plans the next resume attempt, or gives up once the grace period is
    /// over. False when there is nothing to resume.
    fn plan_resume(self: &Rc<Self>) -> bool {
        let now = js_sys::Date::now();
        let (delay, attempt) = {
            let mut resume = self.resume.borrow_mut();
            let Some(r) = resume.as_mut() else { return false };
            if r.lost_at == 0.0 {
                r.lost_at = now;
            }
            r.attempt += 1;
            let grace_ms = r.ticket.grace_seconds as f64 * 1000.0;
            if now - r.lost_at >= grace_ms {
                let grace = r.ticket.grace_seconds;
                resume.take();
                drop(resume);
                let reason = format!("the connection was lost and could not be resumed within {grace} s");
                self.term.write_text(&format!("\r\n\x1b[2m[Ended: {reason}]\x1b[0m\r\n"));
                self.set_status.set(Status::Ended { code: None, reason, exit: None });
                return true;
            }
            (resume_delay_ms(r.attempt).min(grace_ms - (now - r.lost_at)), r.attempt)
        };
        self.set_status.set(Status::Reconnecting { attempt });
        let generation = self.generation.get();
        let weak = Rc::downgrade(self);
        let retry = Closure::once_into_js(move || {
            // Not when the person started a new session meanwhile.
            if let Some(inner) = weak.upgrade().filter(|i| i.generation.get() == generation) {
                Inner::resume_now(&inner);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(retry.unchecked_ref(), delay.max(0.0) as i32);
        }
        true
    }

    fn on_message(self: &Rc<Self>, state: &Rc<RefCell<ConnState>>, generation: u32, event: MessageEvent) {
        let data = event.data();
        if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
            // A view of a JS-owned buffer (not wasm memory), safe to hand over.
            let received = Uint8Array::new(buffer);
            let bytes = {
                let mut st = state.borrow_mut();
                st.pending += u64::from(received.length());
                whole_characters(&mut st.held, &received)
            };
            let n = u64::from(bytes.length());
            if n == 0 {
                return;
            }
            self.offset.set(self.offset.get() + n);
            self.active();
            let weak: Weak<Inner> = Rc::downgrade(self);
            let written = Closure::once_into_js(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.on_written(generation, n);
                }
            });
            self.term.write_bytes(&bytes, &written);
        } else if let Some(text) = data.as_string() {
            match porthole::decode_server(&text) {
                Ok(ServerMessage::Connected { pod, container, expires_at, resume }) => {
                    let viewers = match self.resume.borrow().as_ref().map(|r| &r.connected) {
                        Some(Status::Connected { viewers, .. }) => *viewers,
                        _ => 0,
                    };
                    let status = Status::Connected { pod, container, expires_at, idle_ends_at: None, viewers };
                    let mut kept = self.resume.borrow_mut();
                    match (resume, kept.as_mut()) {
                        (Some(ticket), _) => *kept = Some(Resume { ticket, connected: status.clone(), lost_at: 0.0, attempt: 0 }),
                        // A new end time for the session already kept.
                        (None, Some(r)) => r.connected = status.clone(),
                        (None, None) => {}
                    }
                    drop(kept);
                    self.set_status.set(status);
                    // The prompt is on its way: now the WebGL renderer may load.
                    Addons::use_webgl(&self.addons);
                    // The layout may have changed while the session was being
                    // authorized and dialed: resizes are only sent once open.
                    let size = self.publish_size();
                    self.send_control(&ClientMessage::Resize { cols: size.cols, rows: size.rows });
                }
                Ok(ServerMessage::Resumed { offset, lost }) => {
                    self.offset.set(offset);
                    if lost > 0 {
                        self.term.write_text(&format!("\r\n\x1b[33m{}\x1b[0m\r\n", porthole::lost_notice(lost)));
                    }
                    self.update_connected(|r| {
                        r.lost_at = 0.0;
                        r.attempt = 0;
                    });
                    let size = self.publish_size();
                    self.send_control(&ClientMessage::Resize { cols: size.cols, rows: size.rows });
                }
                Ok(ServerMessage::Viewing { owner }) => self.set_status.set(Status::Viewing { owner }),
                Ok(ServerMessage::Viewers { count }) => {
                    self.update_connected(|r| {
                        if let Status::Connected { viewers, .. } = &mut r.connected {
                            *viewers = count;
                        }
                    });
                }
                Ok(ServerMessage::Draining { ends_at }) => {
                    // The status line counts down to the end, as for a max session time.
                    let left = ((ends_at as f64 - js_sys::Date::now()) / 1000.0).round().max(0.0);
                    self.term.write_text(&format!("\r\n\x1b[33m[The server is restarting: this session ends in {left} s]\x1b[0m\r\n"));
                    self.update_connected(|r| {
                        if let Status::Connected { expires_at, .. } = &mut r.connected {
                            *expires_at = Some(expires_at.map_or(ends_at, |at| at.min(ends_at)));
                        }
                    });
                }
                Ok(ServerMessage::Idle { ends_at }) => {
                    self.idle_warned.set(true);
                    self.set_idle_end(Some(ends_at));
                }
                Ok(ServerMessage::Exit { code }) => state.borrow_mut().exit = Some(code),
                Ok(ServerMessage::End { code, reason }) => state.borrow_mut().end = Some((code, reason)),
                Err(e) => web_sys::console::warn_1(&format!("porthole: ignoring control message: {e}").into()),
            }
        }
    }

    /// Shows (or, with `None`, clears) the idle timeout's end in the status
    /// line, and in the status kept for a resume.
    fn set_idle_end(&self, at: Option<u64>) {
        let set = |status: &mut Status| {
            if let Status::Connected { idle_ends_at, .. } = status {
                *idle_ends_at = at;
            }
        };
        if let Some(r) = self.resume.borrow_mut().as_mut() {
            set(&mut r.connected);
        }
        self.set_status.update(set);
    }

    /// A keystroke or output: the relay's idle countdown starts again, so
    /// the warning goes.
    fn active(&self) {
        if self.idle_warned.replace(false) {
            self.set_idle_end(None);
        }
    }

    /// Changes the kept session state with `change`, then shows its
    /// connected status (nothing without a resumable session).
    fn update_connected(&self, change: impl FnOnce(&mut Resume)) {
        let status = self.resume.borrow_mut().as_mut().map(|r| {
            change(r);
            r.connected.clone()
        });
        if let Some(status) = status {
            self.set_status.set(status);
        }
    }

    /// xterm.js has parsed `n` bytes of session `generation`.
    fn on_written(&self, generation: u32, n: u64) {
        let conn = self.conn.borrow();
        let Some(conn) = conn.as_ref().filter(|c| c.generation == generation) else { return };
        let ack = {
            let mut st = conn.state.borrow_mut();
            st.pending = st.pending.saturating_sub(n);
            st.unacked += n;
            if st.unacked >= ACK_EVERY || st.pending == 0 { std::mem::take(&mut st.unacked) } else { 0 }
        };
        if ack > 0 {
            send_control_on(&conn.ws, &ClientMessage::Ack { bytes: ack });
        }
    }

    fn on_close(self: &Rc<Self>, state: &Rc<RefCell<ConnState>>, event: CloseEvent) {
        // Dropped without an end from the relay: resume the same session
        // (the bytes held back are replayed, so they are not shown now).
        // An exit status heard is an end too, even if the rest was cut off.
        let ended = { let st = state.borrow(); st.end.is_some() || st.exit.is_some() } || event.code() >= 4000;
        if !ended && self.plan_resume() {
            return;
        }
        if ended {
            self.resume.borrow_mut().take();
        }
        // The output ended inside a character: show what came, as it is.
        let held = std::mem::take(&mut state.borrow_mut().held);
        if !held.is_empty() {
            self.term.write_bytes(&Uint8Array::from(&held[..]), &JsValue::UNDEFINED);
        }
        let st = state.borrow();
        let status = match (&st.end, event.code()) {
            (Some((code, reason)), _) => Status::Ended { code: Some(*code), reason: reason.clone(), exit: st.exit },
            (None, code) if code >= 4000 => Status::Ended { code: Some(code), reason: event.reason(), exit: st.exit },
            (None, _) if !st.opened => Status::Failed,
            (None, code) => Status::Ended { code: None, reason: format!("the connection was lost (code {code})"), exit: st.exit },
        };
        let notice = match &status {
            Status::Failed => "Connection failed".to_string(),
            other => other.text(),
        };
        self.term.write_text(&format!("\r\n\x1b[2m[{notice}]\x1b[0m\r\n"));
        self.set_status.set(status);
    }

    /// Input for the terminal; when it is a `key`, with the key bar's
    /// sticky Ctrl and Alt applied once and released.
    fn typed(&self, data: &str, key: bool) {
        let (ctrl, alt) = (self.controls.ctrl.get_untracked(), self.controls.alt.get_untracked());
        if !(key && (ctrl || alt)) {
            return self.send_bytes(data.as_bytes());
        }
        self.controls.ctrl.set(false);
        self.controls.alt.set(false);
        self.send_bytes(crate::keybar::with_modifiers(data, ctrl, alt).as_bytes());
    }

    fn send_bytes(&self, bytes: &[u8]) {
        // A viewer types nothing (the relay would drop it anyway).
        if self.view.is_some() {
            return;
        }
        if let Some(conn) = self.conn.borrow().as_ref() {
            if conn.ws.ready_state() == WebSocket::OPEN {
                let _ = conn.ws.send_with_u8_array(bytes);
                self.active();
            }
        }
    }

    fn send_control(&self, msg: &ClientMessage) {
        if self.view.is_some() && matches!(msg, ClientMessage::Resize { .. }) {
            return;
        }
        if let Some(conn) = self.conn.borrow().as_ref() {
            send_control_on(&conn.ws, msg);
        }
    }
}

fn send_control_on(ws: &WebSocket, msg: &ClientMessage) {
    if ws.ready_state() == WebSocket::OPEN {
        if let shared::Frame::Text(text) = porthole::encode_client(msg) {
            let _ = ws.send_with_str(&text);
        }
    }
}
