//! The person's terminal preferences, kept in the browser (localStorage,
//! key [`KEY`]) so that every terminal page opens the way they left it:
//! font size, scrollback, copy on select, screen reader mode.

use serde::{Deserialize, Serialize};

/// The localStorage key.
pub const KEY: &str = "porthole.terminal";

/// Font sizes offered, in CSS pixels.
pub const FONT_SIZES: std::ops::RangeInclusive<u32> = 8..=32;
/// The font size of a first visit.
pub const DEFAULT_FONT_SIZE: u32 = 14;
/// Scrollback lines of a first visit.
pub const DEFAULT_SCROLLBACK: u32 = 10_000;
/// The most scrollback lines accepted: xterm.js keeps every line in
/// memory, 12 bytes a cell (100 000 lines of 200 columns are 240 MB).
pub const MAX_SCROLLBACK: u32 = 100_000;

/// Terminal preferences; unknown or out-of-range stored values fall back
/// to the defaults ([`Prefs::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Font size, CSS pixels, within [`FONT_SIZES`].
    pub font_size: u32,
    /// Lines kept above the screen, 0..=[`MAX_SCROLLBACK`].
    pub scrollback: u32,
    /// Copy the selection to the clipboard as soon as it is made.
    pub copy_on_select: bool,
    /// xterm.js's screen reader mode.
    pub screen_reader: bool,
}

impl Default for Prefs {
    fn default() -> Prefs {
        Prefs { font_size: DEFAULT_FONT_SIZE, scrollback: DEFAULT_SCROLLBACK, copy_on_select: false, screen_reader: false }
    }
}

impl Prefs {
    /// Preferences from their stored JSON; defaults for what is missing,
    /// unreadable or out of range.
    pub fn parse(stored: &str) -> Prefs {
        let mut prefs: Prefs = serde_json::from_str(stored).unwrap_or_default();
        if !FONT_SIZES.contains(&prefs.font_size) {
            prefs.font_size = DEFAULT_FONT_SIZE;
        }
        prefs.scrollback = prefs.scrollback.min(MAX_SCROLLBACK);
        prefs
    }

    /// The font size `step` sizes bigger (negative: smaller), kept within
    /// [`FONT_SIZES`]; 0 = back to the default.
    pub fn font_step(self, step: i32) -> u32 {
        if step == 0 {
            return DEFAULT_FONT_SIZE;
        }
        let size = i64::from(self.font_size) + i64::from(step);
        size.clamp(i64::from(*FONT_SIZES.start()), i64::from(*FONT_SIZES.end())) as u32
    }

    /// The stored preferences (defaults when there are none or storage is off).
    pub fn load() -> Prefs {
        let stored = storage().and_then(|s| s.get_item(KEY).ok().flatten());
        stored.as_deref().map_or_else(Prefs::default, Prefs::parse)
    }

    /// Stores these preferences (silently not, when storage is off).
    pub fn save(&self) {
        if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(self)) {
            let _ = storage.set_item(KEY, &json);
        }
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_for_a_first_visit_and_for_junk() {
        assert_eq!(Prefs::parse(""), Prefs::default());
        assert_eq!(Prefs::parse("not json"), Prefs::default());
        assert_eq!(Prefs::default().scrollback, 10_000);
        let partial = Prefs::parse(r#"{"font_size":18}"#);
        assert_eq!(partial, Prefs { font_size: 18, ..Prefs::default() });
    }

    #[test]
    fn out_of_range_values_are_not_kept() {
        let stored = Prefs::parse(r#"{"font_size":400,"scrollback":99999999,"copy_on_select":true}"#);
        assert_eq!(stored, Prefs { font_size: DEFAULT_FONT_SIZE, scrollback: MAX_SCROLLBACK, copy_on_select: true, screen_reader: false });
    }

    #[test]
    fn font_steps_stay_in_range() {
        let prefs = Prefs::default();
        assert_eq!(prefs.font_step(1), 15);
        assert_eq!(prefs.font_step(-1), 13);
        assert_eq!(Prefs { font_size: 32, ..prefs }.font_step(1), 32);
        assert_eq!(Prefs { font_size: 8, ..prefs }.font_step(-1), 8);
        assert_eq!(Prefs { font_size: 20, ..prefs }.font_step(0), 14);
    }

    #[test]
    fn round_trips_through_storage_json() {
        let prefs = Prefs { font_size: 20, scrollback: 500, copy_on_select: true, screen_reader: true };
        assert_eq!(Prefs::parse(&serde_json::to_string(&prefs).unwrap()), prefs);
    }
}
