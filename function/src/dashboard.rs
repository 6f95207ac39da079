//! The dashboard: trunk's output of `frontend/` (checked in under `frontend/dist`), embedded
//! at build time by `build.rs` and served at `/`.
//!
//! `index.html` is served at `/` and `/index.html` with `Cache-Control: no-cache` (always
//! revalidated, so a new build shows at once); the other files carry a content hash in their
//! names and are cached for a year (`immutable`). Every answer has `nosniff`, and the page may
//! not be framed (its buttons scale and abort fleets).

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Its file name (no directory: trunk's output is flat).
    pub name: &'static str,
    /// Its contents.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

const INDEX: &str = "index.html";
const NO_CACHE: &str = "no-cache";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The dashboard's routes: `/`, `/index.html` and one route per embedded file.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/index.html", get(index));
    for asset in ASSETS.iter().filter(|a| a.name != INDEX) {
        router = router.route(
            &format!("/{}", asset.name),
            get(move || async move { respond(asset, IMMUTABLE) }),
        );
    }
    router
}

async fn index() -> Response {
    match ASSETS.iter().find(|a| a.name == INDEX) {
        Some(asset) => respond(asset, NO_CACHE),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            "this build has no dashboard: run `cargo xtask dashboard` and build again\n",
        )
            .into_response(),
    }
}

fn respond(asset: &'static Asset, cache: &'static str) -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static(content_type(asset.name)),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (
                HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
            (
                HeaderName::from_static("content-security-policy"),
                HeaderValue::from_static("frame-ancestors 'none'"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

/// The media type of a file trunk writes, by extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let response = routes::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }

    fn asset_with(ext: &str) -> &'static Asset {
        ASSETS
            .iter()
            .find(|a| a.name.ends_with(ext))
            .unwrap_or_else(|| panic!("no {ext} file embedded from frontend/dist"))
    }

    #[tokio::test]
    async fn the_page_is_served_at_the_root_and_always_revalidated() {
        for path in ["/", "/index.html"] {
            let (status, headers, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(headers[CACHE_CONTROL], NO_CACHE);
            assert_eq!(headers["x-frame-options"], "DENY");
            let html = String::from_utf8(body).unwrap();
            // The page loads the embedded script by a relative URL.
            let js = asset_with(".js").name;
            assert!(html.contains(&format!("./{js}")), "{js} not in {html}");
        }
    }

    #[tokio::test]
    async fn the_wasm_and_script_are_served_with_their_types_and_cached_for_good() {
        for (ext, ty) in [
            (".wasm", "application/wasm"),
            (".js", "text/javascript; charset=utf-8"),
        ] {
            let asset = asset_with(ext);
            let (status, headers, body) = get(&format!("/{}", asset.name)).await;
            assert_eq!(status, StatusCode::OK, "{}", asset.name);
            assert_eq!(headers[CONTENT_TYPE], ty);
            assert_eq!(headers[CACHE_CONTROL], IMMUTABLE);
            assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(body, asset.bytes);
        }
        assert!(asset_with(".wasm").bytes.starts_with(b"\0asm"));
    }

    /// The `--name: #rrggbb` colours of the first `:root` block after `from` in the page.
    fn palette(html: &str, from: &str) -> std::collections::HashMap<String, [f64; 3]> {
        let start = html.find(from).unwrap();
        let block = &html[start..];
        let block = &block[block.find(":root {").unwrap() + ":root {".len()..];
        let block = &block[..block.find('}').unwrap()];
        block
            .split(';')
            .filter_map(|decl| {
                let (name, value) = decl.split_once(':')?;
                let hex = value.trim().strip_prefix('#')?;
                let channel = |i: usize| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
                Some((
                    name.trim().trim_start_matches("--").to_string(),
                    [channel(0), channel(2), channel(4)],
                ))
            })
            .collect()
    }

    /// WCAG 2 contrast ratio of two sRGB colours.
    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let luminance = |c: [f64; 3]| {
            let lin = |v: f64| {
                let v = v / 255.0;
                if v <= 0.03928 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
        };
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    #[test]
    fn text_and_controls_meet_wcag_aa_contrast_in_both_schemes() {
        let html =
            std::str::from_utf8(ASSETS.iter().find(|a| a.name == INDEX).unwrap().bytes).unwrap();
        // (foreground, background) of every text the page's CSS draws.
        let text_pairs = [
            ("text", "bg"),
            ("text", "surface"),
            ("muted", "bg"),
            ("muted", "surface"),
            ("neutral-fg", "neutral-bg"),
            ("active-fg", "active-bg"),
            ("warning-fg", "warning-bg"),
            ("error-fg", "error-bg"),
            ("error-text", "surface"),
            ("text", "info-bg"),
            ("button-fg", "button-bg"),
            ("button-fg", "button-hover"),
            ("danger-fg", "danger-bg"),
            ("danger-fg", "danger-hover"),
            ("disabled-fg", "disabled-bg"),
            ("link", "surface"),
            ("link", "bg"),
            ("ok", "surface"),
        ];
        // Non-text: the focus ring and the connection dots need 3:1 (WCAG 1.4.11).
        let ui_pairs = [
            ("focus", "surface"),
            ("focus", "bg"),
            ("ok", "bg"),
            ("busy", "bg"),
            ("bad", "bg"),
        ];
        for (scheme, from) in [("light", "<style>"), ("dark", "prefers-color-scheme: dark")] {
            let p = palette(html, from);
            let colour = |n: &str| *p.get(n).unwrap_or_else(|| panic!("{scheme}: no --{n}"));
            for (min, pairs) in [(4.5, &text_pairs[..]), (3.0, &ui_pairs[..])] {
                for (fg, bg) in pairs {
                    let ratio = contrast(colour(fg), colour(bg));
                    assert!(
                        ratio >= min,
                        "{scheme}: --{fg} on --{bg} is {ratio:.2}:1, under {min}:1"
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn other_paths_are_not_the_dashboard() {
        let (status, _, _) = get("/nope.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
