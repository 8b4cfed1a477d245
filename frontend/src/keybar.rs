//! The on-screen key bar for phones (shown below 600 px wide, by CSS):
//! Esc, Tab, sticky Ctrl and Alt, arrows, `|`, `~`, `/` — the keys a
//! phone's keyboard lacks or hides. Sticky Ctrl and Alt apply to the next
//! key, from the bar or the phone's keyboard ([`with_modifiers`]).

use crate::addons::Controls;
use leptos::prelude::*;

/// What the bar's keys send, with their labels for screen readers.
const KEYS: [(&str, &str, &str); 10] = [
    ("Esc", "Escape", "\x1b"),
    ("Tab", "Tab", "\t"),
    ("←", "Left arrow", "\x1b[D"),
    ("↑", "Up arrow", "\x1b[A"),
    ("↓", "Down arrow", "\x1b[B"),
    ("→", "Right arrow", "\x1b[C"),
    ("|", "Pipe", "|"),
    ("~", "Tilde", "~"),
    ("/", "Slash", "/"),
    ("-", "Dash", "-"),
];

/// `data` as typed with Ctrl and/or Alt held: Ctrl turns one letter (or
/// `@[\]^_ ?/`) into its control character; Alt prefixes ESC (xterm's
/// meta-sends-escape). Longer input (a paste) and keys Ctrl does not
/// change pass as they are, with Alt's ESC.
pub fn with_modifiers(data: &str, ctrl: bool, alt: bool) -> String {
    let mut chars = data.chars();
    let single = match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    };
    let mut out = String::with_capacity(data.len() + 1);
    if alt {
        out.push('\x1b');
    }
    match single.filter(|_| ctrl).and_then(control_character) {
        Some(c) => out.push(c),
        None => out.push_str(data),
    }
    out
}

/// The control character Ctrl+`c` types, if any.
fn control_character(c: char) -> Option<char> {
    match c {
        'a'..='z' => Some((c as u8 - b'a' + 1) as char),
        '@'..='_' => Some((c as u8 - b'@') as char),
        ' ' => Some('\0'),
        '/' => Some('\x1f'),
        '?' => Some('\x7f'),
        _ => None,
    }
}

/// The key bar; `send` types a key's bytes (through the sticky
/// modifiers). The buttons never take the focus from the terminal, so a
/// phone's keyboard stays open.
#[component]
pub fn KeyBar(controls: Controls, send: Callback<&'static str>) -> impl IntoView {
    let keep_focus = |ev: leptos::ev::MouseEvent| ev.prevent_default();
    let sticky = move |signal: RwSignal<bool>, label: &'static str, name: &'static str| {
        view! {
            <button
                class=move || if signal.get() { "key sticky on" } else { "key sticky" }
                aria-label=name
                aria-pressed=move || signal.get().to_string()
                on:mousedown=keep_focus
                on:click=move |_| signal.update(|on| *on = !*on)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="keybar" role="toolbar" aria-label="Extra keys" data-testid="keybar">
            {KEYS[..2].iter().map(|&(label, name, bytes)| key(label, name, bytes, send)).collect_view()}
            {sticky(controls.ctrl, "Ctrl", "Control (applies to the next key)")}
            {sticky(controls.alt, "Alt", "Alt (applies to the next key)")}
            {KEYS[2..].iter().map(|&(label, name, bytes)| key(label, name, bytes, send)).collect_view()}
        </div>
    }
}

fn key(label: &'static str, name: &'static str, bytes: &'static str, send: Callback<&'static str>) -> impl IntoView {
    view! {
        <button class="key" aria-label=name on:mousedown=|ev: leptos::ev::MouseEvent| ev.prevent_default() on:click=move |_| send.run(bytes)>
            {label}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_makes_control_characters() {
        assert_eq!(with_modifiers("c", true, false), "\x03");
        assert_eq!(with_modifiers("C", true, false), "\x03");
        assert_eq!(with_modifiers("[", true, false), "\x1b");
        assert_eq!(with_modifiers(" ", true, false), "\0");
        assert_eq!(with_modifiers("/", true, false), "\x1f");
        assert_eq!(with_modifiers("?", true, false), "\x7f");
        // Keys Ctrl does not change, and pastes, pass as they are.
        assert_eq!(with_modifiers("1", true, false), "1");
        assert_eq!(with_modifiers("\x1b[A", true, false), "\x1b[A");
        assert_eq!(with_modifiers("ls", true, false), "ls");
    }

    #[test]
    fn alt_prefixes_escape() {
        assert_eq!(with_modifiers("b", false, true), "\x1bb");
        assert_eq!(with_modifiers("c", true, true), "\x1b\x03");
        assert_eq!(with_modifiers("x", false, false), "x");
    }
}
