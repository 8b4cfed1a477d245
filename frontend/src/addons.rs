//! What the terminal does besides its session: the xterm.js addons
//! (search, web links, OSC 52 clipboard, WebGL) and the browser around it
//! (shortcuts, copy and paste, preferences, theme, page title and bell).
//!
//! - Keys: Ctrl+Shift+F search, Ctrl+Shift+C / Ctrl+Shift+V (Cmd+C / Cmd+V
//!   on macOS) copy and paste, Ctrl+= / Ctrl+- / Ctrl+0 font size; anything
//!   else goes to the terminal as xterm.js maps it.
//! - Paste goes through xterm.js's `paste`, which honours bracketed paste;
//!   more than [`PASTE_CONFIRM_BYTES`] asks first (a stray paste of a log
//!   file into a shell runs it line by line). Right-click copies the
//!   selection, or pastes when there is none.
//! - OSC 52 (a program setting the clipboard): asked once per page, then
//!   allowed; reading the clipboard (OSC 52 `?`) always answers empty.
//! - Links: http and https only, in a new tab with `noopener`.
//! - Search and WebGL are imported when first needed (search when the
//!   search bar opens; WebGL, the heaviest addon, only where WebGL2 is, once
//!   the session is connected), so they never delay the first prompt. On
//!   a context loss, or when WebGL fails, the DOM renderer stays; the
//!   container's `data-renderer` says which one draws.

use crate::prefs::Prefs;
use crate::xterm::{self, ClipboardAddon, Disposable, FitAddon, SearchAddon, Terminal, WebLinksAddon, WebglAddon};
use leptos::prelude::{GetUntracked, RwSignal, Set};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, KeyboardEvent, MouseEvent};

/// A paste larger than this (bytes) asks first.
pub const PASTE_CONFIRM_BYTES: usize = 1 << 20;

/// Search results as xterm.js counts them: the active match (from 0; -1
/// when over the highlight limit or none) and how many there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Matches {
    /// The selected match, from 0; -1 = none or not counted.
    pub index: i32,
    /// Matches in the buffer (up to the highlight limit).
    pub count: u32,
}

/// The page's side of the terminal's controls: signals the page shows and
/// the terminal sets.
#[derive(Clone, Copy)]
pub struct Controls {
    /// The search bar is open.
    pub search_open: RwSignal<bool>,
    /// The last search's matches.
    pub matches: RwSignal<Matches>,
    /// Sticky Ctrl from the on-screen key bar: applies to the next key.
    pub ctrl: RwSignal<bool>,
    /// Sticky Alt from the on-screen key bar: applies to the next key.
    pub alt: RwSignal<bool>,
    /// The preferences now (font size, scrollback, …).
    pub prefs: RwSignal<Prefs>,
}

impl Controls {
    /// Controls with the stored preferences.
    pub fn new() -> Controls {
        Controls {
            search_open: RwSignal::new(false),
            matches: RwSignal::new(Matches::default()),
            ctrl: RwSignal::new(false),
            alt: RwSignal::new(false),
            prefs: RwSignal::new(Prefs::load()),
        }
    }
}

/// A shortcut the terminal takes for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// Open the search bar.
    Search,
    /// Copy the selection.
    Copy,
    /// Paste from the clipboard.
    Paste,
    /// Font size: one step bigger (1), smaller (-1), the default (0).
    Font(i32),
}

/// The shortcut a key press means, if any. `mac`: Cmd plays Ctrl+Shift's
/// part for copy and paste.
pub fn shortcut(key: &str, ctrl: bool, shift: bool, alt: bool, meta: bool, mac: bool) -> Option<Shortcut> {
    if alt {
        return None;
    }
    let key = key.to_ascii_lowercase();
    match (key.as_str(), ctrl, shift, meta) {
        ("f", true, true, false) => Some(Shortcut::Search),
        ("c", true, true, false) => Some(Shortcut::Copy),
        ("v", true, true, false) => Some(Shortcut::Paste),
        ("c", false, false, true) if mac => Some(Shortcut::Copy),
        ("v", false, false, true) if mac => Some(Shortcut::Paste),
        ("f", false, false, true) if mac => Some(Shortcut::Search),
        ("=" | "+", true, _, false) => Some(Shortcut::Font(1)),
        // Not Ctrl+_ (Shift): readline's undo.
        ("-", true, false, false) => Some(Shortcut::Font(-1)),
        ("0", true, false, false) => Some(Shortcut::Font(0)),
        _ => None,
    }
}

/// The search addon's state: it is imported on first use.
enum Search {
    /// Not asked for yet.
    NotLoaded,
    /// Importing; the search to run once it is there.
    Loading(Option<(String, Find)>),
    /// Ready.
    Ready(SearchAddon),
}

/// The terminal's addons and page integration, for the page's lifetime.
pub struct Addons {
    term: Terminal,
    parent: HtmlElement,
    fit: FitAddon,
    /// The search addon, once imported.
    search: RefCell<Search>,
    /// The last search's case sensitivity.
    search_case: Cell<Option<bool>>,
    controls: Controls,
    /// A program may set the clipboard (OSC 52): asked once per page.
    osc52: Cell<Option<bool>>,
    webgl: RefCell<Option<WebglAddon>>,
    /// WebGL was tried once (it is not tried again after a context loss).
    webgl_tried: Cell<bool>,
    /// The page's title before any program set one.
    base_title: String,
    /// Prefix of the title a program sets: the project.
    title_prefix: String,
    /// The title flashes for a bell while the tab is hidden: the interval.
    bell_flash: Cell<Option<i32>>,
    /// What the interval runs.
    bell_flip: RefCell<Option<js_sys::Function>>,
    /// Listeners on the page (target, event, capture, function), removed
    /// by [`Addons::dispose`].
    dom_listeners: RefCell<Vec<(web_sys::EventTarget, &'static str, bool, js_sys::Function)>>,
    listeners: RefCell<Vec<Disposable>>,
    // Closures JS holds on to; dropped with the addons.
    closures: RefCell<Vec<Box<dyn std::any::Any>>>,
}

impl Addons {
    /// Loads the addons into `term` (already opened in `parent`) and applies
    /// the preferences in `controls`. `title_prefix` goes before titles
    /// programs set (the project's path).
    pub fn load(term: &Terminal, parent: &HtmlElement, fit: &FitAddon, controls: Controls, title_prefix: String) -> Rc<Addons> {
        let document = web_sys::window().and_then(|w| w.document());
        let addons = Rc::new(Addons {
            term: term.clone(),
            parent: parent.clone(),
            fit: fit.clone(),
            search: RefCell::new(Search::NotLoaded),
            search_case: Cell::new(None),
            controls,
            osc52: Cell::new(None),
            webgl: RefCell::new(None),
            webgl_tried: Cell::new(false),
            base_title: document.map(|d| d.title()).unwrap_or_default(),
            title_prefix,
            bell_flash: Cell::new(None),
            bell_flip: RefCell::new(None),
            dom_listeners: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
            closures: RefCell::new(Vec::new()),
        });
        addons.apply_prefs();
        Addons::links(&addons);
        Addons::clipboard(&addons);
        Addons::keys(&addons);
        Addons::title_and_bell(&addons);
        Addons::theme(&addons);
        addons.set_renderer("dom");
        addons
    }

    fn keep(&self, closure: impl std::any::Any) {
        self.closures.borrow_mut().push(Box::new(closure));
    }

    /// Keeps an xterm.js subscription until [`Addons::dispose`], and the
    /// closure it calls.
    fn subscribe(&self, subscription: Disposable, closure: impl std::any::Any) {
        self.listeners.borrow_mut().push(subscription);
        self.keep(closure);
    }

    /// Listens for `event` on `target` (in the capture phase with
    /// `capture`) until [`Addons::dispose`].
    fn listen<E: wasm_bindgen::convert::FromWasmAbi + 'static>(
        &self,
        target: &web_sys::EventTarget,
        event: &'static str,
        capture: bool,
        closure: Closure<dyn FnMut(E)>,
    ) {
        let function: js_sys::Function = closure.as_ref().unchecked_ref::<js_sys::Function>().clone();
        if target.add_event_listener_with_callback_and_bool(event, &function, capture).is_ok() {
            self.dom_listeners.borrow_mut().push((target.clone(), event, capture, function));
        }
        self.keep(closure);
    }

    /// Applies the preferences now in the controls to the terminal.
    fn apply_prefs(&self) {
        let prefs = self.controls.prefs.get_untracked();
        let options = self.term.options();
        options.set_font_size(prefs.font_size);
        options.set_scrollback(prefs.scrollback);
        options.set_screen_reader_mode(prefs.screen_reader);
        self.fit.fit();
    }

    /// Changes the preferences with `change`, applies and stores them.
    pub fn update_prefs(&self, change: impl FnOnce(&mut Prefs)) {
        let mut prefs = self.controls.prefs.get_untracked();
        change(&mut prefs);
        prefs.save();
        self.controls.prefs.set(prefs);
        self.apply_prefs();
    }

    /// Font size one step bigger (1), smaller (-1) or the default (0).
    pub fn font_step(&self, step: i32) {
        self.update_prefs(|p| p.font_size = p.font_step(step));
    }

    /// Searches the scrollback for `text`, downwards or upwards; the
    /// match count arrives in the controls. The first search imports the
    /// addon and runs once it is there.
    pub fn find(self: &Rc<Self>, text: &str, how: Find) {
        if text.is_empty() {
            // Nothing to find once the addon arrives either.
            if let Search::Loading(pending) = &mut *self.search.borrow_mut() {
                *pending = None;
            }
            self.clear_search();
            return;
        }
        let wanted = Some((text.to_string(), how));
        let (ready, load) = match &mut *self.search.borrow_mut() {
            Search::Ready(search) => (Some(search.clone()), false),
            Search::Loading(pending) => {
                *pending = wanted;
                (None, false)
            }
            state @ Search::NotLoaded => {
                *state = Search::Loading(wanted);
                (None, true)
            }
        };
        if let Some(search) = ready {
            self.run_search(&search, text, how);
        } else if load {
            Addons::load_search(self);
        }
    }

    /// Imports the search addon ahead of the first search (the bar opened).
    pub fn prepare_search(self: &Rc<Self>) {
        let load = {
            let mut state = self.search.borrow_mut();
            let load = matches!(*state, Search::NotLoaded);
            if load {
                *state = Search::Loading(None);
            }
            load
        };
        if load {
            Addons::load_search(self);
        }
    }

    fn load_search(addons: &Rc<Addons>) {
        let weak = Rc::downgrade(addons);
        wasm_bindgen_futures::spawn_local(async move {
            let imported = wasm_bindgen_futures::JsFuture::from(xterm::import_addon("search", "SearchAddon")).await;
            let options = js_sys::JSON::parse(r#"{"highlightLimit":1000}"#).unwrap_or(JsValue::UNDEFINED);
            let search = imported.and_then(|class| xterm::construct::<SearchAddon>(&class, &[&options]));
            let Some(addons) = weak.upgrade() else { return };
            let search = match search {
                Ok(search) => search,
                Err(e) => {
                    *addons.search.borrow_mut() = Search::NotLoaded;
                    return web_sys::console::warn_2(&"porthole: the search addon did not load:".into(), &e);
                }
            };
            addons.term.load_addon(&search);
            Addons::search_results(&addons, &search);
            let pending = match std::mem::replace(&mut *addons.search.borrow_mut(), Search::Ready(search.clone())) {
                Search::Loading(pending) => pending,
                _ => None,
            };
            if let Some((text, how)) = pending {
                addons.run_search(&search, &text, how);
            }
        });
    }

    fn run_search(&self, search: &SearchAddon, text: &str, how: Find) {
        // The addon keeps its highlights for the same text even when the
        // options change (it compares the new options with themselves):
        // clearing them makes it count again.
        if self.search_case.replace(Some(how.case_sensitive)).is_some_and(|was| was != how.case_sensitive) {
            search.clear_decorations();
        }
        let options = search_options(how);
        let found = if how.forward { search.find_next(text, &options) } else { search.find_previous(text, &options) };
        if !found {
            self.controls.matches.set(Matches { index: -1, count: 0 });
        }
    }

    /// Removes the search highlights.
    pub fn clear_search(&self) {
        if let Search::Ready(search) = &*self.search.borrow() {
            search.clear_decorations();
        }
        self.controls.matches.set(Matches::default());
    }

    /// Copies the selection to the clipboard; false when nothing is selected.
    pub fn copy_selection(&self) -> bool {
        if !self.term.has_selection() {
            return false;
        }
        write_clipboard(&self.term.get_selection());
        true
    }

    /// Pastes what the clipboard holds (asking first when it is large).
    pub fn paste_from_clipboard(self: &Rc<Self>) {
        let Some(read) = clipboard_call("readText", None) else { return };
        let weak = Rc::downgrade(self);
        wasm_bindgen_futures::spawn_local(async move {
            let read = wasm_bindgen_futures::JsFuture::from(read).await;
            let Some(addons) = weak.upgrade() else { return };
            match read {
                Ok(text) => addons.paste(&text.as_string().unwrap_or_default()),
                Err(_) => web_sys::console::warn_1(&"porthole: the browser did not let the page read the clipboard".into()),
            }
        });
    }

    /// Pastes `text`, asking first when it is over [`PASTE_CONFIRM_BYTES`].
    pub fn paste(&self, text: &str) {
        if !text.is_empty() && paste_allowed(text.len()) {
            self.term.paste(text);
        }
    }

    /// The match count of each search, for the search bar.
    fn search_results(addons: &Rc<Addons>, search: &SearchAddon) {
        let matches = addons.controls.matches;
        let on_results = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let field = |name: &str| js_sys::Reflect::get(&event, &name.into()).ok().and_then(|v| v.as_f64()).unwrap_or(-1.0);
            let (index, count) = (field("resultIndex"), field("resultCount"));
            matches.set(Matches { index: index as i32, count: count.max(0.0) as u32 });
        });
        addons.subscribe(search.on_did_change_results(&on_results), on_results);
    }

    /// Web links: http(s) URLs in the output open in a new tab.
    fn links(addons: &Rc<Addons>) {
        let open = Closure::<dyn FnMut(MouseEvent, String)>::new(|_event: MouseEvent, uri: String| {
            if is_web_link(&uri) {
                if let Some(window) = web_sys::window() {
                    let _ = window.open_with_url_and_target_and_features(&uri, "_blank", "noopener,noreferrer");
                }
            }
        });
        addons.term.load_addon(&WebLinksAddon::new(&open));
        addons.keep(open);
    }

    /// OSC 52: a program's clipboard writes, once the person allowed them
    /// for this page; reads answer empty.
    fn clipboard(addons: &Rc<Addons>) {
        let weak = Rc::downgrade(addons);
        let write = Closure::<dyn FnMut(String, String) -> JsValue>::new(move |_selection: String, text: String| {
            if let Some(addons) = weak.upgrade() {
                if addons.osc52_allowed(&text) {
                    write_clipboard(&text);
                }
            }
            JsValue::UNDEFINED
        });
        let read = Closure::<dyn FnMut(String) -> JsValue>::new(|_selection: String| JsValue::from_str(""));
        let provider = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&provider, &"writeText".into(), write.as_ref());
        let _ = js_sys::Reflect::set(&provider, &"readText".into(), read.as_ref());
        addons.term.load_addon(&ClipboardAddon::new(&JsValue::UNDEFINED, &provider));
        addons.keep(write);
        addons.keep(read);
    }

    /// Whether a program may set the clipboard to `text`: asked the first
    /// time (with the start of what it wants to copy); the answer holds
    /// until the page is left.
    fn osc52_allowed(&self, text: &str) -> bool {
        if let Some(answer) = self.osc52.get() {
            return answer;
        }
        let chars = text.chars().count();
        let shown: String = text.chars().take(80).map(|c| if is_hidden(c) { ' ' } else { c }).collect();
        let more = if chars > 80 { "…" } else { "" };
        let question = format!(
            "A program in this terminal wants to copy {chars} characters to your clipboard:\n\n{shown}{more}\n\n\
             Allow programs in this terminal to set your clipboard until you leave the page?"
        );
        let answer = crate::confirmed(&question);
        self.osc52.set(Some(answer));
        answer
    }

    /// Shortcuts, right-click, the paste check and copy on select.
    fn keys(addons: &Rc<Addons>) {
        let mac = is_mac();
        let weak = Rc::downgrade(addons);
        let on_key = Closure::<dyn FnMut(KeyboardEvent) -> bool>::new(move |event: KeyboardEvent| {
            let Some(shortcut) = shortcut(&event.key(), event.ctrl_key(), event.shift_key(), event.alt_key(), event.meta_key(), mac) else {
                return true;
            };
            // xterm.js sees keydown and keypress; act once, swallow both.
            if event.type_() != "keydown" {
                return false;
            }
            let Some(addons) = weak.upgrade() else { return true };
            match shortcut {
                Shortcut::Search => addons.controls.search_open.set(true),
                // Nothing selected: Cmd+C is nothing, Ctrl+Shift+C likewise.
                Shortcut::Copy => {
                    addons.copy_selection();
                }
                Shortcut::Paste => addons.paste_from_clipboard(),
                Shortcut::Font(step) => addons.font_step(step),
            }
            // Not the browser's zoom, find or paste either.
            event.prevent_default();
            false
        });
        addons.term.attach_custom_key_event_handler(&on_key);
        addons.keep(on_key);

        // Right-click: copy the selection, or paste when there is none.
        let weak = Rc::downgrade(addons);
        let on_context_menu = Closure::<dyn FnMut(MouseEvent)>::new(move |event: MouseEvent| {
            let Some(addons) = weak.upgrade() else { return };
            event.prevent_default();
            if !addons.copy_selection() {
                addons.paste_from_clipboard();
            }
        });
        addons.listen(&addons.parent, "contextmenu", false, on_context_menu);

        // The browser's own paste (Cmd+V, the menu): the same size check,
        // before xterm.js takes it.
        let on_paste = Closure::<dyn FnMut(web_sys::ClipboardEvent)>::new(move |event: web_sys::ClipboardEvent| {
            let size = event.clipboard_data().and_then(|d| d.get_data("text/plain").ok()).map_or(0, |t| t.len());
            if !paste_allowed(size) {
                event.prevent_default();
                event.stop_propagation();
            }
        });
        addons.listen(&addons.parent, "paste", true, on_paste);

        let weak = Rc::downgrade(addons);
        let on_select = Closure::<dyn FnMut()>::new(move || {
            if let Some(addons) = weak.upgrade() {
                if addons.controls.prefs.get_untracked().copy_on_select {
                    addons.copy_selection();
                }
            }
        });
        addons.subscribe(addons.term.on_selection_change(&on_select), on_select);
    }

    /// The page title follows the terminal's (OSC 0/2), after the project;
    /// a bell while the tab is hidden flashes the title until it is seen.
    fn title_and_bell(addons: &Rc<Addons>) {
        let weak = Rc::downgrade(addons);
        let on_title = Closure::<dyn FnMut(String)>::new(move |title: String| {
            if let Some(addons) = weak.upgrade() {
                set_document_title(&addons.page_title(&title));
            }
        });
        addons.subscribe(addons.term.on_title_change(&on_title), on_title);

        let weak = Rc::downgrade(addons);
        let on_bell = Closure::<dyn FnMut()>::new(move || {
            if let Some(addons) = weak.upgrade() {
                addons.bell();
            }
        });
        addons.subscribe(addons.term.on_bell(&on_bell), on_bell);

        let weak = Rc::downgrade(addons);
        let on_visible = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
            if let Some(addons) = weak.upgrade().filter(|_| !document_hidden()) {
                addons.stop_flashing();
            }
        });
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            addons.listen(&document, "visibilitychange", false, on_visible);
        }

        // One closure flips the title for every bell.
        let flip = Closure::<dyn FnMut()>::new(|| {
            let now = current_title();
            match now.strip_prefix(BELL_MARK) {
                Some(plain) => set_document_title(plain),
                None => set_document_title(&format!("{BELL_MARK}{now}")),
            }
        });
        *addons.bell_flip.borrow_mut() = Some(flip.as_ref().unchecked_ref::<js_sys::Function>().clone());
        addons.keep(flip);
    }

    /// The page title for a terminal title: `project · title`, or the
    /// page's own when the program cleared it.
    fn page_title(&self, title: &str) -> String {
        let title: String = title.chars().filter(|c| !c.is_control()).take(200).collect();
        if title.trim().is_empty() { self.base_title.clone() } else { format!("{} · {}", self.title_prefix, title) }
    }

    fn bell(&self) {
        if !document_hidden() || self.bell_flash.get().is_some() {
            return;
        }
        let (Some(window), Some(flip)) = (web_sys::window(), self.bell_flip.borrow().clone()) else { return };
        set_document_title(&format!("{BELL_MARK}{}", current_title()));
        if let Ok(handle) = window.set_interval_with_callback_and_timeout_and_arguments_0(&flip, 1000) {
            self.bell_flash.set(Some(handle));
        }
    }

    fn stop_flashing(&self) {
        if let (Some(handle), Some(window)) = (self.bell_flash.take(), web_sys::window()) {
            window.clear_interval_with_handle(handle);
            let title = current_title();
            set_document_title(title.strip_prefix(BELL_MARK).unwrap_or(&title));
        }
    }

    /// Light or dark, following `prefers-color-scheme` as it changes.
    fn theme(addons: &Rc<Addons>) {
        let Some(query) = web_sys::window().and_then(|w| w.match_media("(prefers-color-scheme: light)").ok().flatten()) else {
            addons.set_theme(false);
            return;
        };
        addons.set_theme(query.matches());
        let weak = Rc::downgrade(addons);
        let on_change = Closure::<dyn FnMut(web_sys::MediaQueryListEvent)>::new(move |event: web_sys::MediaQueryListEvent| {
            if let Some(addons) = weak.upgrade() {
                addons.set_theme(event.matches());
            }
        });
        addons.listen(&query, "change", false, on_change);
    }

    fn set_theme(&self, light: bool) {
        let theme = js_sys::JSON::parse(if light { LIGHT_THEME } else { DARK_THEME }).unwrap_or(JsValue::UNDEFINED);
        self.term.options().set_theme(&theme);
        let _ = self.parent.set_attribute("data-theme", if light { "light" } else { "dark" });
    }

    /// WebGL when the browser has WebGL2 (the addon is imported now), the
    /// DOM renderer otherwise, and after a context loss. Called once the
    /// session is connected, so the import never delays the prompt.
    pub fn use_webgl(addons: &Rc<Addons>) {
        if addons.webgl_tried.replace(true) || !has_webgl2() {
            return;
        }
        let weak = Rc::downgrade(addons);
        wasm_bindgen_futures::spawn_local(async move {
            let imported = wasm_bindgen_futures::JsFuture::from(xterm::import_addon("webgl", "WebglAddon")).await;
            let webgl = imported.and_then(|class| xterm::construct::<WebglAddon>(&class, &[]));
            match (weak.upgrade(), webgl) {
                (Some(addons), Ok(webgl)) => Addons::start_webgl(&addons, webgl),
                (_, Err(e)) => web_sys::console::warn_2(&"porthole: WebGL renderer unavailable, using the DOM renderer:".into(), &e),
                (None, _) => {}
            }
        });
    }

    fn start_webgl(addons: &Rc<Addons>, webgl: WebglAddon) {
        let weak = Rc::downgrade(addons);
        let on_loss = Closure::<dyn FnMut()>::new(move || {
            if let Some(addons) = weak.upgrade() {
                addons.drop_webgl();
            }
        });
        addons.subscribe(webgl.on_context_loss(&on_loss), on_loss);
        if let Err(e) = try_load_addon(&addons.term, &webgl) {
            return web_sys::console::warn_2(&"porthole: the WebGL renderer failed, using the DOM renderer:".into(), &e);
        }
        *addons.webgl.borrow_mut() = Some(webgl);
        addons.set_renderer("webgl");
    }

    /// Back to the DOM renderer (the WebGL context was lost).
    fn drop_webgl(&self) {
        if let Some(webgl) = self.webgl.borrow_mut().take() {
            webgl.dispose();
        }
        self.set_renderer("dom");
    }

    fn set_renderer(&self, name: &str) {
        let _ = self.parent.set_attribute("data-renderer", name);
    }

    /// Removes the listeners (the terminal is disposed by its owner).
    pub fn dispose(&self) {
        self.stop_flashing();
        for listener in self.listeners.borrow_mut().drain(..) {
            listener.dispose();
        }
        for (target, event, capture, function) in self.dom_listeners.borrow_mut().drain(..) {
            let _ = target.remove_event_listener_with_callback_and_bool(event, &function, capture);
        }
        if !self.base_title.is_empty() {
            set_document_title(&self.base_title);
        }
    }
}

/// What the title starts with while it flashes for a bell.
const BELL_MARK: &str = "🔔 ";

/// The dark theme (the default).
const DARK_THEME: &str = r##"{"background":"#101418","foreground":"#e6e6e6","cursor":"#e6e6e6","selectionBackground":"#3a4a5c"}"##;
/// The light theme, for `prefers-color-scheme: light`.
const LIGHT_THEME: &str = r##"{"background":"#fbfbfb","foreground":"#1f2328","cursor":"#1f2328","selectionBackground":"#b6d3f2",
  "black":"#1f2328","red":"#b42318","green":"#116329","yellow":"#7d4e00","blue":"#0550ae","magenta":"#8250df","cyan":"#1b7c83","white":"#6e7781",
  "brightBlack":"#57606a","brightRed":"#cf222e","brightGreen":"#1a7f37","brightYellow":"#9a6700","brightBlue":"#0969da","brightMagenta":"#a475f9","brightCyan":"#3192aa","brightWhite":"#8c959f"}"##;

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Find {
    /// Down (next) or up (previous).
    pub forward: bool,
    /// Match case.
    pub case_sensitive: bool,
    /// The text is being typed: stay on the current match while it still
    /// matches, rather than moving to the next.
    pub incremental: bool,
}

/// Search options with match highlights (which also make xterm.js count
/// the matches).
fn search_options(how: Find) -> JsValue {
    let json = format!(
        r##"{{"caseSensitive":{},"incremental":{},"decorations":{{"matchBackground":"#6b5a00","matchOverviewRuler":"#d4b000","activeMatchBackground":"#d4b000","activeMatchColorOverviewRuler":"#ffdd33"}}}}"##,
        how.case_sensitive, how.incremental
    );
    js_sys::JSON::parse(&json).unwrap_or(JsValue::UNDEFINED)
}

/// True for the links the terminal opens: http and https only.
pub fn is_web_link(uri: &str) -> bool {
    let lower = uri.trim_start().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")) && !uri.chars().any(char::is_control)
}

/// Characters that would hide or reorder what a question shows: control
/// characters, zero-width ones and bidirectional overrides.
fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// True when a paste of `bytes` may go ahead: small, or confirmed.
fn paste_allowed(bytes: usize) -> bool {
    bytes <= PASTE_CONFIRM_BYTES
        || crate::confirmed(&format!("Paste {:.1} MiB into the terminal? Every line runs as typed.", bytes as f64 / f64::from(1 << 20)))
}

/// `navigator.clipboard[method](arg)`, when the page may use the clipboard
/// (a secure context).
fn clipboard_call(method: &str, arg: Option<&str>) -> Option<js_sys::Promise> {
    let navigator = web_sys::window()?.navigator();
    let clipboard = js_sys::Reflect::get(&navigator, &"clipboard".into()).ok().filter(|c| !c.is_undefined())?;
    let function = js_sys::Reflect::get(&clipboard, &method.into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
    let result = match arg {
        Some(arg) => function.call1(&clipboard, &arg.into()),
        None => function.call0(&clipboard),
    };
    result.ok()?.dyn_into::<js_sys::Promise>().ok()
}

/// Writes `text` to the clipboard (quietly not, where the page may not).
pub fn write_clipboard(text: &str) {
    if let Some(promise) = clipboard_call("writeText", Some(text)) {
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(promise).await.is_err() {
                web_sys::console::warn_1(&"porthole: the browser did not let the page write the clipboard".into());
            }
        });
    }
}

/// `term.loadAddon(addon)`, with what it throws as an error (the WebGL
/// addon throws when it cannot get a context).
fn try_load_addon(term: &Terminal, addon: &WebglAddon) -> Result<(), JsValue> {
    let load = js_sys::Reflect::get(term, &"loadAddon".into())?.dyn_into::<js_sys::Function>()?;
    load.call1(term, addon).map(drop)
}

fn has_webgl2() -> bool {
    let canvas = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("canvas").ok())
        .and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok());
    canvas.is_some_and(|c| c.get_context("webgl2").ok().flatten().is_some())
}

fn is_mac() -> bool {
    web_sys::window().and_then(|w| w.navigator().platform().ok()).is_some_and(|p| p.starts_with("Mac") || p.starts_with("iP"))
}

fn document_hidden() -> bool {
    web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden())
}

fn current_title() -> String {
    web_sys::window().and_then(|w| w.document()).map(|d| d.title()).unwrap_or_default()
}

fn set_document_title(title: &str) {
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        document.set_title(title);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_by_platform() {
        assert_eq!(shortcut("F", true, true, false, false, false), Some(Shortcut::Search));
        assert_eq!(shortcut("C", true, true, false, false, false), Some(Shortcut::Copy));
        assert_eq!(shortcut("V", true, true, false, false, false), Some(Shortcut::Paste));
        assert_eq!(shortcut("c", false, false, false, true, true), Some(Shortcut::Copy));
        assert_eq!(shortcut("v", false, false, false, true, true), Some(Shortcut::Paste));
        // Cmd+C is not copy off a Mac, and plain Ctrl+C is the shell's.
        assert_eq!(shortcut("c", false, false, false, true, false), None);
        assert_eq!(shortcut("c", true, false, false, false, false), None);
        assert_eq!(shortcut("v", true, false, false, false, false), None);
        assert_eq!(shortcut("=", true, false, false, false, false), Some(Shortcut::Font(1)));
        assert_eq!(shortcut("+", true, true, false, false, false), Some(Shortcut::Font(1)));
        assert_eq!(shortcut("-", true, false, false, false, false), Some(Shortcut::Font(-1)));
        assert_eq!(shortcut("_", true, true, false, false, false), None, "readline's undo");
        assert_eq!(shortcut("0", true, false, false, false, false), Some(Shortcut::Font(0)));
        assert_eq!(shortcut("f", true, true, true, false, false), None, "Alt is for the shell");
    }

    #[test]
    fn questions_show_no_hidden_characters() {
        for c in ['\u{7}', '\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}'] {
            assert!(is_hidden(c), "{c:?}");
        }
        assert!(!is_hidden('a') && !is_hidden('é') && !is_hidden('😀'));
    }

    #[test]
    fn only_web_links_open() {
        assert!(is_web_link("https://example.com/a?b=c"));
        assert!(is_web_link("HTTP://example.com"));
        for uri in ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,x", "ftp://h/x", "https://x\u{7}y"] {
            assert!(!is_web_link(uri), "{uri}");
        }
    }
}
