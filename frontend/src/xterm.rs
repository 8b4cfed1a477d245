//! Typed bindings to xterm.js 6 and its fit and unicode11 addons.
//!
//! The `xterm-js-rs` crate binds the xterm.js 4 API (`setOption`,
//! `registerLinkMatcher`, …) that versions 5 and 6 removed, and takes output
//! as `&str` only; these few bindings cover what Porthole uses, against the
//! UMD globals the npm packages install (`Terminal`, `FitAddon.FitAddon`,
//! `Unicode11Addon.Unicode11Addon`). See ARCHITECTURE.md.

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

pub use FitAddonJs as FitAddon;
pub use Unicode11AddonJs as Unicode11Addon;
