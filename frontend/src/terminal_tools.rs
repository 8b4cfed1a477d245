//! The terminal's controls on the page: the search bar (Ctrl+Shift+F),
//! and the tools in the status bar — search, font size, fullscreen and a
//! menu of preferences (copy on select, scrollback, screen reader mode).
//! Every control is a labelled button or input, reachable by keyboard.

use crate::addons::{Addons, Controls, Find};
use crate::prefs::{MAX_SCROLLBACK, Prefs};
use crate::session::TerminalView;
use leptos::prelude::*;
use std::rc::Rc;
use wasm_bindgen::JsCast;

/// Where a page keeps its terminal (see `terminal_page::terminal_slot`).
pub type TerminalSlot = StoredValue<Option<TerminalView>, LocalStorage>;

/// Runs `f` with the page's terminal addons, once the terminal exists.
fn with_addons(slot: TerminalSlot, f: impl FnOnce(&Rc<Addons>)) {
    slot.with_value(|view| {
        if let Some(view) = view {
            f(view.addons());
        }
    });
}

/// The search bar, while open: the text, previous and next, case, the
/// match count; Enter = next, Shift+Enter = previous, Esc closes.
#[component]
pub fn SearchBar(terminal: TerminalSlot, controls: Controls) -> impl IntoView {
    let slot = terminal;
    let text = RwSignal::new(String::new());
    let case_sensitive = RwSignal::new(false);
    let input = NodeRef::<leptos::html::Input>::new();
    let search = move |forward: bool, incremental: bool| {
        let text = text.get_untracked();
        let how = Find { forward, case_sensitive: case_sensitive.get_untracked(), incremental };
        with_addons(slot, |a| a.find(&text, how));
    };
    let find = move |forward: bool| search(forward, false);
    let close = move || {
        controls.search_open.set(false);
        with_addons(slot, |a| a.clear_search());
        slot.with_value(|view| view.as_ref().map(TerminalView::focus));
    };
    // Focus the field whenever the bar opens.
    Effect::new(move |_| {
        if controls.search_open.get() {
            with_addons(slot, |a| a.prepare_search());
            if let Some(input) = input.get() {
                let _ = input.focus();
                input.select();
            }
        }
    });
    let count = move || {
        let m = controls.matches.get();
        match (m.count, m.index) {
            (0, _) if text.get().is_empty() => String::new(),
            (0, _) => "No results".into(),
            (n, i) if i >= 0 => format!("{} of {n}", i + 1),
            (n, _) => format!("{n}+ results"),
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "Enter" => {
            ev.prevent_default();
            find(!ev.shift_key());
        }
        "Escape" => {
            ev.prevent_default();
            close();
        }
        _ => {}
    };
    view! {
        <div class="search-bar" role="search" data-testid="search-bar" hidden=move || !controls.search_open.get()>
            <input
                node_ref=input
                type="search"
                placeholder="Find in the terminal"
                aria-label="Find in the terminal"
                data-testid="search-input"
                bind:value=text
                on:input=move |_| search(true, true)
                on:keydown=on_key
            />
            <span class="search-count" data-testid="search-count" aria-live="polite">{count}</span>
            <button
                aria-label="Match case"
                title="Match case"
                data-testid="search-case"
                aria-pressed=move || case_sensitive.get().to_string()
                class=move || if case_sensitive.get() { "on" } else { "" }
                on:click=move |_| {
                    case_sensitive.update(|c| *c = !*c);
                    find(true);
                }
            >
                "Aa"
            </button>
            <button aria-label="Previous match" title="Previous match (Shift+Enter)" data-testid="search-previous" on:click=move |_| find(false)>
                "↑"
            </button>
            <button aria-label="Next match" title="Next match (Enter)" data-testid="search-next" on:click=move |_| find(true)>"↓"</button>
            <button aria-label="Close search" title="Close (Esc)" data-testid="search-close" on:click=move |_| close()>"✕"</button>
        </div>
    }
}

/// Search, font size, fullscreen and the preferences menu, for the
/// status bar.
#[component]
pub fn TerminalTools(terminal: TerminalSlot, controls: Controls) -> impl IntoView {
    let slot = terminal;
    let font = move |step: i32| with_addons(slot, |a| a.font_step(step));
    let prefs = controls.prefs;
    let set_scrollback = move |ev: leptos::ev::Event| {
        if let Ok(lines) = event_target_value(&ev).trim().parse::<u32>() {
            with_addons(slot, |a| a.update_prefs(|p| p.scrollback = lines.min(MAX_SCROLLBACK)));
        }
    };
    view! {
        <span class="tools" role="toolbar" aria-label="Terminal tools">
            <button aria-label="Find in the terminal" title="Find (Ctrl+Shift+F)" data-testid="search-open" on:click=move |_| controls.search_open.set(true)>
                "Find"
            </button>
            // A mouse click leaves the keyboard with the terminal (Tab still
            // reaches these buttons).
            <button aria-label="Smaller text" title="Smaller text (Ctrl+-)" data-testid="font-smaller" on:mousedown=keep_focus on:click=move |_| font(-1)>
                "A−"
            </button>
            <span class="font-size" data-testid="font-size" aria-label="Font size">{move || prefs.get().font_size}</span>
            <button aria-label="Larger text" title="Larger text (Ctrl+=)" data-testid="font-larger" on:mousedown=keep_focus on:click=move |_| font(1)>
                "A+"
            </button>
            <button
                aria-label="Fullscreen"
                title="Fullscreen (Esc leaves)"
                data-testid="fullscreen"
                on:mousedown=keep_focus
                on:click=move |ev| {
                    toggle_fullscreen(ev);
                    slot.with_value(|view| view.as_ref().map(TerminalView::focus));
                }
            >
                "Fullscreen"
            </button>
            // Closes when the focus leaves it (a click in the terminal) or on Esc.
            <details class="menu" data-testid="terminal-menu" on:focusout=close_menu_on_leave on:keydown=close_menu_on_escape>
                <summary aria-label="Terminal settings">"Settings"</summary>
                <div class="menu-items">
                    {pref_check(slot, prefs, "Copy on select", "copy-on-select", |p| &mut p.copy_on_select)}
                    {pref_check(slot, prefs, "Screen reader mode", "screen-reader", |p| &mut p.screen_reader)}
                    <label>
                        "Scrollback (lines)"
                        <input
                            type="number"
                            min="0"
                            max=MAX_SCROLLBACK.to_string()
                            step="1000"
                            data-testid="scrollback"
                            prop:value=move || prefs.get().scrollback.to_string()
                            on:change=set_scrollback
                        />
                    </label>
                </div>
            </details>
        </span>
    }
}

/// Keeps the focus where it is (the terminal) when a button is clicked.
fn keep_focus(ev: leptos::ev::MouseEvent) {
    ev.prevent_default();
}

/// Closes the Settings menu once the focus has left it.
fn close_menu_on_leave(ev: leptos::ev::FocusEvent) {
    let Some(menu) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
    let to = ev.related_target().and_then(|t| t.dyn_into::<web_sys::Node>().ok());
    if !to.is_some_and(|to| menu.contains(Some(&to))) {
        let _ = menu.remove_attribute("open");
    }
}

/// Closes the Settings menu on Esc.
fn close_menu_on_escape(ev: leptos::ev::KeyboardEvent) {
    if ev.key() == "Escape" {
        if let Some(menu) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
            let _ = menu.remove_attribute("open");
        }
    }
}

/// A yes/no preference's checkbox in the Settings menu; `field` picks it.
fn pref_check(
    slot: TerminalSlot,
    prefs: RwSignal<Prefs>,
    label: &'static str,
    testid: &'static str,
    field: fn(&mut Prefs) -> &mut bool,
) -> impl IntoView {
    view! {
        <label class="check">
            <input
                type="checkbox"
                data-testid=testid
                prop:checked=move || *field(&mut prefs.get())
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    with_addons(slot, |a| a.update_prefs(|p| *field(p) = on));
                }
            />
            {label}
        </label>
    }
}

/// Puts the terminal page (status bar and terminal) in fullscreen, or
/// leaves it.
fn toggle_fullscreen(ev: leptos::ev::MouseEvent) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    if document.fullscreen_element().is_some() {
        document.exit_fullscreen();
        return;
    }
    let page = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()).and_then(|e| e.closest(".terminal-page").ok().flatten());
    if let Some(page) = page {
        let _ = page.request_fullscreen();
    }
}
