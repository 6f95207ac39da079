//! Times as the API writes them (RFC 3339, UTC) and durations in words.

/// Milliseconds since the epoch of an RFC 3339 time; `None` when the browser cannot read it.
pub fn parse_ms(at: &str) -> Option<f64> {
    let ms = js_sys::Date::parse(at);
    (!ms.is_nan()).then_some(ms)
}

/// The browser's clock, in milliseconds since the epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A duration for people: `4 s`, `2 min 05 s`, `3 h 12 min`, `2 d 4 h`. Negative durations
/// (a clock ahead of the browser's) count as 0.
pub fn duration(ms: f64) -> String {
    let secs = if ms.is_finite() && ms > 0.0 {
        // Whole seconds; a fleet's ages fit in u64 seconds by far.
        (ms / 1000.0).floor() as u64
    } else {
        0
    };
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{s} s")
    }
}

/// The local wall-clock time of an RFC 3339 time (`14:03:27`), or the text as given.
pub fn clock(at: &str) -> String {
    match parse_ms(at) {
        Some(ms) => {
            let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
            format!(
                "{:02}:{:02}:{:02}",
                d.get_hours(),
                d.get_minutes(),
                d.get_seconds()
            )
        }
        None => at.to_string(),
    }
}
