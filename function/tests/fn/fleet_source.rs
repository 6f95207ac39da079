//! `FLEETCTL_CONFIG`: a path, or an object read with the function's resource principal and
//! read again only when its ETag changed.

use std::time::Duration;

use fleetctl_core::env::Env;
use fleetctl_core::fleet::Overrides;
use fleetctl_core::oci::AuthMethod;
use fleetctl_function::fleet_source::{FleetLocation, FleetSource, SourceError, SourceOptions};
use fleetctl_testkit::TestSim;

use crate::support::{OBJECT, fleet_text, functions_env, object_url, put};

fn options(sim: Option<&TestSim>, refresh_every: Duration) -> SourceOptions {
    let env = match sim {
        Some(sim) => Env::from_pairs(functions_env(sim)),
        None => Env::empty(),
    };
    SourceOptions {
        auth: Some(AuthMethod::Resource),
        overrides: Overrides::new(env),
        refresh_every,
    }
}

fn web_count(current: &fleetctl_function::fleet_source::Current) -> u32 {
    current.config.spec.instances[0].count
}

#[tokio::test]
async fn locations_are_paths_file_urls_or_objects() {
    assert_eq!(
        FleetLocation::parse("/etc/fleetctl/fleet.yaml").unwrap(),
        FleetLocation::File("/etc/fleetctl/fleet.yaml".into())
    );
    assert_eq!(
        FleetLocation::parse("file:///etc/fleet.yaml").unwrap(),
        FleetLocation::File("/etc/fleet.yaml".into())
    );
    let object = FleetLocation::parse("oci://fleets@acme/prod/fleet.yaml").unwrap();
    assert_eq!(object.to_string(), "oci://fleets@acme/prod/fleet.yaml");
    for bad in [
        "oci://fleets/fleet.yaml",
        "oci://fleets@acme",
        "s3://b/fleet.yaml",
        " ",
    ] {
        let err = FleetLocation::parse(bad).unwrap_err();
        assert!(matches!(err, SourceError::Location(_)), "{bad}: {err}");
        assert!(err.is_configuration_problem());
    }
}

#[tokio::test]
async fn a_path_is_read_at_first_and_again_when_the_file_changes() {
    let sim = TestSim::start().await;
    let path = sim.dir().join("fleet.yaml");
    std::fs::write(&path, fleet_text(&sim, 3)).unwrap();
    let source = FleetSource::open(
        FleetLocation::File(path.clone()),
        options(None, Duration::ZERO),
    )
    .await
    .unwrap();
    let first = source.current().await.unwrap();
    assert_eq!(web_count(&first), 3);
    assert_eq!(
        source.current().await.unwrap().generation,
        first.generation,
        "unchanged"
    );
    std::fs::write(&path, fleet_text(&sim, 12)).unwrap();
    let second = source.current().await.unwrap();
    assert_eq!(web_count(&second), 12);
    assert!(second.generation > first.generation);
}

#[tokio::test]
async fn an_object_is_read_with_the_resource_principal_and_again_only_when_its_etag_changes() {
    let sim = TestSim::start().await;
    put(&sim, OBJECT, &fleet_text(&sim, 3)).await;
    let location = FleetLocation::parse(&object_url(&sim, OBJECT)).unwrap();
    let source = FleetSource::open(location, options(Some(&sim), Duration::ZERO))
        .await
        .unwrap();
    sim.clear_requests().await;

    let first = source.current().await.unwrap();
    assert_eq!(web_count(&first), 3);
    let again = source.current().await.unwrap();
    assert_eq!(again.generation, first.generation);
    let gets = sim.calls("GetObject");
    assert_eq!(
        fleetctl_testkit::statuses(&gets),
        [Some(200), Some(304)],
        "{gets:?}"
    );
    assert!(
        gets.iter()
            .all(|g| g.key_id_kind == Some(oci_sim::auth::KeyIdKind::Resource)),
        "signed with the resource principal's token: {gets:?}"
    );

    put(&sim, OBJECT, &fleet_text(&sim, 7)).await;
    let changed = source.current().await.unwrap();
    assert_eq!(web_count(&changed), 7);
    assert!(changed.generation > first.generation);
    assert_eq!(
        fleetctl_testkit::statuses(&sim.calls("GetObject")),
        [Some(200), Some(304), Some(200)]
    );
}

#[tokio::test]
async fn within_the_refresh_interval_no_call_is_made() {
    let sim = TestSim::start().await;
    put(&sim, OBJECT, &fleet_text(&sim, 3)).await;
    let location = FleetLocation::parse(&object_url(&sim, OBJECT)).unwrap();
    let source = FleetSource::open(location, options(Some(&sim), Duration::from_secs(3600)))
        .await
        .unwrap();
    sim.clear_requests().await;
    source.current().await.unwrap();
    put(&sim, OBJECT, &fleet_text(&sim, 5)).await;
    assert_eq!(
        web_count(&source.current().await.unwrap()),
        3,
        "not read again yet"
    );
    assert_eq!(sim.calls("GetObject").len(), 1);
}

#[tokio::test]
async fn a_broken_object_is_reported_at_its_url_line_and_column_until_it_is_fixed() {
    let sim = TestSim::start().await;
    let good = fleet_text(&sim, 3);
    let broken = good.replace("count: 3", "count: -2");
    put(&sim, OBJECT, &broken).await;
    let url = object_url(&sim, OBJECT);
    let source = FleetSource::open(
        FleetLocation::parse(&url).unwrap(),
        options(Some(&sim), Duration::ZERO),
    )
    .await
    .unwrap();
    let err = source.current().await.unwrap_err();
    assert!(err.is_configuration_problem());
    let line = broken
        .lines()
        .position(|l| l.contains("count: -2"))
        .unwrap()
        + 1;
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{url}:{line}:")),
        "names the object, line and column: {shown}"
    );
    assert!(
        shown.contains("must be a whole number >= 0, got -2"),
        "{shown}"
    );
    // Unchanged (304): the same problem, without a parse.
    assert_eq!(source.current().await.unwrap_err().to_string(), shown);
    put(&sim, OBJECT, &good).await;
    assert_eq!(web_count(&source.current().await.unwrap()), 3);
}

#[tokio::test]
async fn a_missing_object_is_a_configuration_problem_naming_it() {
    let sim = TestSim::start().await;
    let url = object_url(&sim, "nowhere.yaml");
    let source = FleetSource::open(
        FleetLocation::parse(&url).unwrap(),
        options(Some(&sim), Duration::ZERO),
    )
    .await
    .unwrap();
    let err = source.current().await.unwrap_err();
    assert!(err.is_configuration_problem(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{url}:1:1: cannot read the object")),
        "{err}"
    );
}
