//! fleetctl's dashboard (Leptos, client-side rendered, built to wasm32 by trunk).
//!
//! For now it renders the page frame only; the live badges, status grid and controls read the
//! API (`/metrics`, `/control`, `/events`) once the HTTP API exists.

use leptos::prelude::*;

#[component]
fn App() -> impl IntoView {
    view! {
        <main>
            <h1>"fleetctl"</h1>
            <p id="placeholder">
                "The dashboard is not built yet: this page is its frame. "
                "Use `fleetctl status` for the fleet's state."
            </p>
        </main>
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
