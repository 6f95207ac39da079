//! fleetctl's dashboard (Leptos, client-side rendered, built to wasm32 by trunk).
//!
//! Reads the API the page is served with (`healthz`, `metrics`, `control`, `events`, paths
//! relative to the page) and drives it (`scale`, `rolling-restart`, `sync-state`, `pause`,
//! `resume`, `abort`). The wire types and the badge texts come from `fleetctl-api`, so the
//! dashboard and the CLI cannot drift apart.

mod actions;
mod live;
mod net;
mod state;
mod time;
mod token;
mod ui;

use leptos::prelude::*;

use state::AppState;

#[component]
fn App() -> impl IntoView {
    let app = AppState::new(token::initial());
    provide_context(app);
    live::start(app);
    // The tab's title follows the fleet: "demo · Scaling up to 5 (2 of 5) · fleetctl".
    Effect::new(move |_| {
        let title = app.snapshot.with(|s| match s {
            Some(s) => {
                let busy: Vec<String> = fleetctl_api::badges::badges(s)
                    .into_iter()
                    .filter(|b| b.tone != fleetctl_api::badges::Tone::Neutral)
                    .map(|b| b.text)
                    .collect();
                let mut parts = vec![s.fleet.clone()];
                parts.extend(busy);
                parts.push("fleetctl".to_string());
                parts.join(" · ")
            }
            None => "fleetctl".to_string(),
        });
        document().set_title(&title);
    });
    view! {
        <a class="skip" href="#controls">"Skip to controls"</a>
        <ui::Header />
        <main>
            <ui::Alerts />
            <ui::TokenPrompt />
            <ui::Badges />
            <div class="layout">
                <div class="primary">
                    <ui::Operation />
                    <ui::Grid />
                    <ui::History />
                </div>
                <div class="secondary">
                    <ui::Controls />
                    <ui::Timeline />
                </div>
            </div>
        </main>
        <ui::Footer />
    }
}

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}
