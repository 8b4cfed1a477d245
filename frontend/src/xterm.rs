//! Typed bindings to xterm.js 6 and the addons Porthole loads: fit,
//! unicode11, search, web-links, clipboard (OSC 52) and webgl.
//!
//! The `xterm-js-rs` crate binds the xterm.js 4 API (`setOption`,
//! `registerLinkMatcher`, …) that versions 5 and 6 removed, and takes output
//! as `&str` only; these few bindings cover what Porthole uses, against the
//! UMD globals the npm packages install (`Terminal`, `FitAddon.FitAddon`,
//! …, set by `index.html` from the ES module builds), and the addons
//! imported on first use ([`import_addon`]: search, WebGL). See
//! ARCHITECTURE.md.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `Terminal` from `@xterm/xterm`.
    #[derive(Clone, Debug)]
    pub type Terminal;

    /// `new Terminal(options)`.
    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Terminal;

    /// Renders the terminal into `parent`.
    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);

    /// Writes output bytes; `callback` runs once xterm.js has parsed them.
    /// The array must be a copy, not a view into wasm memory: xterm.js
    /// buffers writes and parses them later.
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes(this: &Terminal, data: &Uint8Array, callback: &JsValue);

    /// Writes text (for local notices, never for session output).
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_text(this: &Terminal, data: &str);

    /// Keystrokes and pastes, as a UTF-16 string.
    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &Terminal, listener: &Closure<dyn FnMut(String)>) -> Disposable;

    /// Binary input (some mouse reports): one char per byte.
    #[wasm_bindgen(method, js_name = onBinary)]
    pub fn on_binary(this: &Terminal, listener: &Closure<dyn FnMut(String)>) -> Disposable;

    /// A key pressed on a keyboard (`{key, domEvent}`), just before its
    /// `onData`; not for input from a phone's keyboard or a paste.
    #[wasm_bindgen(method, js_name = onKey)]
    pub fn on_key(this: &Terminal, listener: &Closure<dyn FnMut(JsValue)>) -> Disposable;

    /// Size changes: `{cols, rows}`.
    #[wasm_bindgen(method, js_name = onResize)]
    pub fn on_resize(this: &Terminal, listener: &Closure<dyn FnMut(JsValue)>) -> Disposable;

    /// Columns.
    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u32;

    /// Rows.
    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u32;

    /// Focuses the terminal.
    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);

    /// Sets the size in cells.
    #[wasm_bindgen(method)]
    pub fn resize(this: &Terminal, cols: u32, rows: u32);

    /// Clears the screen, scrollback and modes.
    #[wasm_bindgen(method)]
    pub fn reset(this: &Terminal);

    /// Removes the terminal and its listeners.
    #[wasm_bindgen(method)]
    pub fn dispose(this: &Terminal);

    /// Loads an addon.
    #[wasm_bindgen(method, js_name = loadAddon)]
    pub fn load_addon(this: &Terminal, addon: &JsValue);

    /// The title programs set (OSC 0 and 2).
    #[wasm_bindgen(method, js_name = onTitleChange)]
    pub fn on_title_change(this: &Terminal, listener: &Closure<dyn FnMut(String)>) -> Disposable;

    /// The bell (BEL, `\x07`).
    #[wasm_bindgen(method, js_name = onBell)]
    pub fn on_bell(this: &Terminal, listener: &Closure<dyn FnMut()>) -> Disposable;

    /// The selection changed.
    #[wasm_bindgen(method, js_name = onSelectionChange)]
    pub fn on_selection_change(this: &Terminal, listener: &Closure<dyn FnMut()>) -> Disposable;

    /// The selected text ("" when none).
    #[wasm_bindgen(method, js_name = getSelection)]
    pub fn get_selection(this: &Terminal) -> String;

    /// True when text is selected.
    #[wasm_bindgen(method, js_name = hasSelection)]
    pub fn has_selection(this: &Terminal) -> bool;

    /// Types `data` as a paste: wrapped in bracketed-paste markers when the
    /// program asked for them (`\e[?2004h`), line ends as CR.
    #[wasm_bindgen(method)]
    pub fn paste(this: &Terminal, data: &str);

    /// Runs `handler` on each key event before xterm.js does; `false` from
    /// it means xterm.js ignores the event.
    #[wasm_bindgen(method, js_name = attachCustomKeyEventHandler)]
    pub fn attach_custom_key_event_handler(this: &Terminal, handler: &Closure<dyn FnMut(web_sys::KeyboardEvent) -> bool>);

    /// `terminal.options`: setting a field applies it at once.
    #[wasm_bindgen(method, getter)]
    pub fn options(this: &Terminal) -> TerminalOptions;

    /// `terminal.options`.
    pub type TerminalOptions;

    /// Font size in CSS pixels.
    #[wasm_bindgen(method, setter, js_name = fontSize)]
    pub fn set_font_size(this: &TerminalOptions, size: u32);

    /// Lines kept above the screen.
    #[wasm_bindgen(method, setter)]
    pub fn set_scrollback(this: &TerminalOptions, lines: u32);

    /// Colours: `{background, foreground, cursor, selectionBackground, …}`.
    #[wasm_bindgen(method, setter)]
    pub fn set_theme(this: &TerminalOptions, theme: &JsValue);

    /// Mirrors the screen into an accessibility tree for screen readers.
    #[wasm_bindgen(method, setter, js_name = screenReaderMode)]
    pub fn set_screen_reader_mode(this: &TerminalOptions, on: bool);

    /// `terminal.unicode` (a proposed API: needs `allowProposedApi`).
    #[wasm_bindgen(method, getter)]
    pub fn unicode(this: &Terminal) -> UnicodeHandling;

    /// `terminal.unicode`.
    pub type UnicodeHandling;

    /// Selects the Unicode version for character widths (`"11"`).
    #[wasm_bindgen(method, setter, js_name = activeVersion)]
    pub fn set_active_version(this: &UnicodeHandling, version: &str);

    /// What `onData` and friends return.
    pub type Disposable;

    /// Removes the listener.
    #[wasm_bindgen(method)]
    pub fn dispose(this: &Disposable);

    /// `FitAddon.FitAddon` (named apart from its namespace: wasm-bindgen
    /// rejects a type named like its `js_namespace`).
    #[wasm_bindgen(js_namespace = FitAddon, js_name = FitAddon)]
    #[derive(Clone, Debug)]
    pub type FitAddonJs;

    /// `new FitAddon.FitAddon()`.
    #[wasm_bindgen(constructor, js_namespace = FitAddon, js_class = "FitAddon")]
    pub fn new() -> FitAddonJs;

    /// Resizes the terminal to fill its container.
    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddonJs);

    /// `Unicode11Addon.Unicode11Addon`.
    #[wasm_bindgen(js_namespace = Unicode11Addon, js_name = Unicode11Addon)]
    pub type Unicode11AddonJs;

    /// `new Unicode11Addon.Unicode11Addon()`.
    #[wasm_bindgen(constructor, js_namespace = Unicode11Addon, js_class = "Unicode11Addon")]
    pub fn new() -> Unicode11AddonJs;
}

/// `new constructor(...args)`, with what it throws as an error.
pub fn construct<T: JsCast>(constructor: &JsValue, args: &[&JsValue]) -> Result<T, JsValue> {
    let constructor = constructor.dyn_ref::<js_sys::Function>().ok_or_else(|| JsValue::from_str("not a constructor"))?;
    let args: js_sys::Array = args.iter().copied().collect();
    Ok(js_sys::Reflect::construct(constructor, &args)?.unchecked_into())
}

#[wasm_bindgen]
extern "C" {
    /// `/addon-<name>.mjs`'s export `exported` (an addon's class), imported
    /// now: `portholeAddon` in `index.html`. Rejects when it cannot load.
    #[wasm_bindgen(js_name = portholeAddon)]
    pub fn import_addon(name: &str, exported: &str) -> js_sys::Promise;

    /// `SearchAddon` from `@xterm/addon-search` (imported on first use).
    #[derive(Clone, Debug)]
    pub type SearchAddonJs;

    /// Selects the next match of `term` below the selection (wrapping);
    /// `options`: `{caseSensitive, incremental, decorations}`. False when
    /// there is none.
    #[wasm_bindgen(method, js_name = findNext)]
    pub fn find_next(this: &SearchAddonJs, term: &str, options: &JsValue) -> bool;

    /// As [`SearchAddonJs::find_next`], upwards.
    #[wasm_bindgen(method, js_name = findPrevious)]
    pub fn find_previous(this: &SearchAddonJs, term: &str, options: &JsValue) -> bool;

    /// Removes the match highlights.
    #[wasm_bindgen(method, js_name = clearDecorations)]
    pub fn clear_decorations(this: &SearchAddonJs);

    /// `{resultIndex, resultCount}` after each search (with decorations on);
    /// `resultIndex` is -1 when the count is over the highlight limit.
    #[wasm_bindgen(method, js_name = onDidChangeResults)]
    pub fn on_did_change_results(this: &SearchAddonJs, listener: &Closure<dyn FnMut(JsValue)>) -> Disposable;

    /// `WebLinksAddon.WebLinksAddon` from `@xterm/addon-web-links`.
    #[wasm_bindgen(js_namespace = WebLinksAddon, js_name = WebLinksAddon)]
    pub type WebLinksAddonJs;

    /// `new WebLinksAddon.WebLinksAddon(handler)`: `handler(event, uri)` runs
    /// when a link is clicked (the addon only finds http and https URLs).
    #[wasm_bindgen(constructor, js_namespace = WebLinksAddon, js_class = "WebLinksAddon")]
    pub fn new(handler: &Closure<dyn FnMut(web_sys::MouseEvent, String)>) -> WebLinksAddonJs;

    /// `ClipboardAddon.ClipboardAddon` from `@xterm/addon-clipboard`: OSC 52.
    #[wasm_bindgen(js_namespace = ClipboardAddon, js_name = ClipboardAddon)]
    pub type ClipboardAddonJs;

    /// `new ClipboardAddon.ClipboardAddon(base64, provider)`: `base64`
    /// undefined = the addon's own; `provider` is `{readText(selection),
    /// writeText(selection, text)}`.
    #[wasm_bindgen(constructor, js_namespace = ClipboardAddon, js_class = "ClipboardAddon")]
    pub fn new(base64: &JsValue, provider: &JsValue) -> ClipboardAddonJs;

    /// `WebglAddon` from `@xterm/addon-webgl` (imported where WebGL2 is).
    #[derive(Clone, Debug)]
    pub type WebglAddonJs;

    /// The GPU dropped the context: dispose the addon (xterm.js goes back
    /// to the DOM renderer).
    #[wasm_bindgen(method, js_name = onContextLoss)]
    pub fn on_context_loss(this: &WebglAddonJs, listener: &Closure<dyn FnMut()>) -> Disposable;

    /// Unloads the addon.
    #[wasm_bindgen(method)]
    pub fn dispose(this: &WebglAddonJs);
}

pub use ClipboardAddonJs as ClipboardAddon;
pub use FitAddonJs as FitAddon;
pub use SearchAddonJs as SearchAddon;
pub use WebLinksAddonJs as WebLinksAddon;
pub use WebglAddonJs as WebglAddon;
pub use Unicode11AddonJs as Unicode11Addon;
