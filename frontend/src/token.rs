//! The API token: read once from the address's fragment (`#token=…`, as `fleetctl demo`
//! prints it), kept in `sessionStorage` (this tab only, gone when it closes) and removed from
//! the address bar so it is neither bookmarked nor shared with the URL.

use wasm_bindgen::JsValue;

const KEY: &str = "fleetctl.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The token from the fragment (which is then stripped and the token stored), else the one
/// this tab stored earlier.
pub fn initial() -> Option<String> {
    if let Some(token) = take_from_fragment() {
        save(&token);
        return Some(token);
    }
    storage()?
        .get_item(KEY)
        .ok()
        .flatten()
        .filter(|t| !t.is_empty())
}

/// Keeps `token` for this tab.
pub fn save(token: &str) {
    if let Some(s) = storage() {
        // A browser refusing storage (private mode quotas) keeps the token in memory only.
        let _ = s.set_item(KEY, token);
    }
}

/// Forgets this tab's token.
pub fn forget() {
    if let Some(s) = storage() {
        let _ = s.remove_item(KEY);
    }
}

/// `token=…` from the fragment; the fragment is removed from the address bar either way
/// when it held a token.
fn take_from_fragment() -> Option<String> {
    let window = web_sys::window()?;
    let location = window.location();
    let hash = location.hash().ok()?;
    let raw = hash
        .trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))?
        .to_string();
    let path = format!(
        "{}{}",
        location.pathname().unwrap_or_default(),
        location.search().unwrap_or_default()
    );
    if let Ok(history) = window.history() {
        // Without history (never in a browser that runs wasm) the fragment stays.
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&path));
    }
    let token = js_sys::decode_uri_component(&raw)
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or(raw);
    (!token.is_empty()).then_some(token)
}
