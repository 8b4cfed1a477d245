//! The replay page (`/admin/audit/<id>/replay`): a session recording
//! (asciicast v2, [`shared::asciicast`]) played in xterm.js with play and
//! pause, speed 1×/2×/8×, seek, and idle stretches cut to 2 s.
//!
//! The file is read in ranges of [`CHUNK`] bytes (`Range:`, which the app
//! answers with 206), so a long recording starts playing after its first
//! chunk while the rest loads. Seeking back replays from the start at once
//! (xterm.js has no way back); seeking forward writes what lies between.

use crate::xterm::Terminal;
use leptos::prelude::*;
use shared::asciicast::{Event, Header};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;

/// Bytes read per range request.
const CHUNK: u64 = 256 << 10;
/// Idle time shown at most between two events, in seconds.
const MAX_IDLE: f64 = 2.0;
/// How often the player advances, in ms.
const TICK_MS: u64 = 50;

/// The recording as loaded so far, and where the player is.
#[derive(Default)]
struct Player {
    header: Option<Header>,
    /// Events with their capped times.
    events: Vec<(f64, Event)>,
    /// Raw time of the last event loaded, and its capped time.
    last: (f64, f64),
    /// Bytes after the last complete line.
    partial: Vec<u8>,
    /// The next event to show.
    next: usize,
    clock: f64,
}

impl Player {
    /// Adds a chunk of the file: complete lines become events.
    fn feed(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return };
        let rest = self.partial.split_off(end + 1);
        let lines = std::mem::replace(&mut self.partial, rest);
        for line in String::from_utf8_lossy(&lines).lines() {
            if self.header.is_none() {
                self.header = serde_json::from_str(line).ok();
                continue;
            }
            if let Some((t, event)) = Event::parse(line) {
                // Idle stretches are cut, as `asciinema play -i` does.
                let clock = self.last.1 + (t - self.last.0).clamp(0.0, MAX_IDLE);
                self.last = (t, clock);
                self.events.push((clock, event));
            }
        }
    }

    fn duration(&self) -> f64 {
        self.last.1
    }

    /// Shows every event up to `until` (seconds on the player's clock).
    fn advance(&mut self, term: &Terminal, until: f64) {
        let mut text = String::new();
        while let Some((t, event)) = self.events.get(self.next) {
            if *t > until {
                break;
            }
            match event {
                Event::Output(o) => text.push_str(o),
                Event::Resize(cols, rows) => {
                    term.write_text(&std::mem::take(&mut text));
                    term.resize((*cols).into(), (*rows).into());
                }
                Event::Marker(m) => text.push_str(&format!("\r\n\x1b[2m[{m}]\x1b[0m\r\n")),
            }
            self.next += 1;
        }
        if !text.is_empty() {
            term.write_text(&text);
        }
        self.clock = until;
    }

    /// Moves to `at`, replaying from the start when it is behind.
    fn seek(&mut self, term: &Terminal, at: f64) {
        if at < self.clock {
            term.reset();
            if let Some(h) = &self.header {
                term.resize(h.width.into(), h.height.into());
            }
            self.next = 0;
        }
        self.advance(term, at);
    }
}

/// `m:ss`.
fn clock_text(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Reads one range of `url`: its bytes and whether it was the last.
async fn read_range(url: &str, from: u64) -> Result<(Vec<u8>, bool), String> {
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().map_err(|e| format!("{e:?}"))?;
    headers.set("Range", &format!("bytes={from}-{}", from + CHUNK - 1)).map_err(|e| format!("{e:?}"))?;
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| format!("{e:?}"))?;
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_request(&request)).await.map_err(|e| format!("{e:?}"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| "not a response")?;
    match response.status() {
        // Past the end of a file whose length is a multiple of the chunk.
        416 => return Ok((Vec::new(), true)),
        200 | 206 => {}
        status => return Err(format!("the recording could not be read (HTTP {status})")),
    }
    let whole = response.status() == 200;
    let buffer = wasm_bindgen_futures::JsFuture::from(response.array_buffer().map_err(|e| format!("{e:?}"))?)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    let last = whole || (bytes.len() as u64) < CHUNK;
    Ok((bytes, last))
}

/// The replay page of audit entry `id`.
#[component]
pub fn ReplayPage(id: String) -> impl IntoView {
    let url = format!("/api/v4/audit_events/{id}/recording");
    let download = format!("{url}?download=true");
    let player = Rc::new(RefCell::new(Player::default()));
    let term: Rc<RefCell<Option<Terminal>>> = Rc::new(RefCell::new(None));
    let (title, set_title) = signal(String::new());
    let (problem, set_problem) = signal(None::<String>);
    let (loaded, set_loaded) = signal(false);
    let (duration, set_duration) = signal(0.0);
    let (position, set_position) = signal(0.0);
    let playing = RwSignal::new(true);
    let speed = RwSignal::new(1.0f64);
    let container = NodeRef::<leptos::html::Div>::new();

    // The terminal, once its container is on the page.
    {
        let term = term.clone();
        Effect::new(move |_| {
            let Some(element) = container.get() else { return };
            if term.borrow().is_none() {
                let options = js_sys::JSON::parse(r##"{"scrollback":5000,"disableStdin":true,"theme":{"background":"#101418"}}"##)
                    .expect("valid JSON");
                let t = Terminal::new(&options);
                t.open(&element);
                *term.borrow_mut() = Some(t);
            }
        });
    }
    // Load the chunks one after another.
    {
        let player = player.clone();
        let term = term.clone();
        let url = url.clone();
        leptos::task::spawn_local(async move {
            let mut from = 0;
            loop {
                match read_range(&url, from).await {
                    Ok((bytes, last)) => {
                        from += bytes.len() as u64;
                        let mut p = player.borrow_mut();
                        let had_header = p.header.is_some();
                        p.feed(&bytes);
                        if !had_header {
                            if let Some(h) = p.header.clone() {
                                set_title.set(h.title.clone().unwrap_or_default());
                                if let Some(t) = term.borrow().as_ref() {
                                    t.resize(h.width.into(), h.height.into());
                                }
                            }
                        }
                        set_duration.set(p.duration());
                        if last {
                            if p.header.is_none() {
                                set_problem.set(Some("This is not an asciicast v2 recording.".into()));
                            }
                            set_loaded.set(true);
                            return;
                        }
                    }
                    Err(e) => return set_problem.set(Some(e)),
                }
            }
        });
    }
    // The player's clock.
    {
        let player = player.clone();
        let term = term.clone();
        let last_tick = std::cell::Cell::new(js_sys::Date::now());
        let handle = set_interval_with_handle(
            move || {
                let now = js_sys::Date::now();
                let elapsed = (now - last_tick.replace(now)) / 1000.0;
                if !playing.get_untracked() {
                    return;
                }
                let Some(t) = term.borrow().clone() else { return };
                let mut p = player.borrow_mut();
                let until = (p.clock + elapsed * speed.get_untracked()).min(p.duration());
                p.advance(&t, until);
                set_position.set(p.clock);
                if p.next == p.events.len() && loaded.get_untracked() {
                    playing.set(false);
                }
            },
            std::time::Duration::from_millis(TICK_MS),
        )
        .ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    }
    let seek = {
        let player = player.clone();
        let term = term.clone();
        move |ev: leptos::ev::Event| {
            let Ok(at) = event_target_value(&ev).parse::<f64>() else { return };
            let Some(t) = term.borrow().clone() else { return };
            let mut p = player.borrow_mut();
            p.seek(&t, at);
            set_position.set(p.clock);
        }
    };
    let toggle = {
        let player = player.clone();
        let term = term.clone();
        move |_| {
            // Play again from the start once at the end.
            let mut p = player.borrow_mut();
            if !playing.get_untracked() && p.next == p.events.len() {
                if let Some(t) = term.borrow().as_ref() {
                    p.seek(t, 0.0);
                }
                set_position.set(0.0);
            }
            playing.update(|on| *on = !*on);
        }
    };
    view! {
        <section class="replay" data-testid="replay">
            <h1>"Recording"</h1>
            <p class="muted" data-testid="replay-title">{title}</p>
            {move || problem.get().map(|p| view! { <p class="notice error" data-testid="replay-problem">{p}</p> })}
            <div class="status-bar">
                <button data-testid="replay-play" on:click=toggle>{move || if playing.get() { "Pause" } else { "Play" }}</button>
                <label>
                    "Speed "
                    <select data-testid="replay-speed" on:change=move |ev| speed.set(event_target_value(&ev).parse().unwrap_or(1.0))>
                        <option value="1">"1×"</option>
                        <option value="2">"2×"</option>
                        <option value="8">"8×"</option>
                    </select>
                </label>
                <input
                    type="range"
                    data-testid="replay-seek"
                    min="0"
                    step="0.1"
                    max=move || format!("{:.1}", duration.get())
                    prop:value=move || format!("{:.1}", position.get())
                    on:input=seek
                />
                <span data-testid="replay-time">{move || format!("{} / {}", clock_text(position.get()), clock_text(duration.get()))}</span>
                <a href=download download="">"Download .cast"</a>
            </div>
            <div class="terminal" data-testid="terminal" node_ref=container></div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_become_events_with_capped_idle() {
        let mut p = Player::default();
        let text = "{\"version\":2,\"width\":80,\"height\":24}\n[0.5, \"o\", \"a\"]\n[10.5, \"o\", \"é\"]\n[11.0, \"m\", \"end\"]\n";
        let bytes = text.as_bytes();
        // Cut inside the header, inside an event and inside "é".
        let cut = text.find('é').unwrap() + 1;
        for part in [&bytes[..10], &bytes[10..40], &bytes[40..cut], &bytes[cut..]] {
            p.feed(part);
        }
        assert_eq!(p.header.as_ref().map(|h| h.width), Some(80));
        assert_eq!(
            p.events,
            vec![(0.5, Event::Output("a".into())), (2.5, Event::Output("é".into())), (3.0, Event::Marker("end".into()))]
        );
        assert_eq!(p.duration(), 3.0);
        assert_eq!(clock_text(75.4), "1:15");
    }
}
