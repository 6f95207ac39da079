//! The instance metadata service v2 of the simulated host instance.

use x509_cert::der::Decode as _;

use super::common::{TestSim, assert_oci_error, json, pem_to_der};

async fn imds(t: &TestSim, path: &str) -> reqwest::Response {
    t.client
        .get(t.url(path))
        .header("authorization", "Bearer Oracle")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn imds_requires_the_bearer_oracle_header() {
    let t = TestSim::start().await;
    let resp = t
        .client
        .get(t.url("/opc/v2/instance/region"))
        .send()
        .await
        .unwrap();
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert!(msg.contains("Bearer Oracle"));
    let resp = t
        .client
        .get(t.url("/opc/v2/instance/region"))
        .header("authorization", "Bearer Other")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn imds_rejects_forwarded_requests() {
    let t = TestSim::start().await;
    for (name, value) in [
        ("forwarded", "for=10.0.0.9"),
        ("x-forwarded-for", "10.0.0.9"),
    ] {
        let resp = t
            .client
            .get(t.url("/opc/v2/instance/region"))
            .header("authorization", "Bearer Oracle")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{name}");
    }
}

#[tokio::test]
async fn imds_describes_the_host_instance() {
    let t = TestSim::start().await;
    assert_eq!(
        imds(&t, "/opc/v2/instance/region")
            .await
            .text()
            .await
            .unwrap(),
        "iad"
    );
    assert_eq!(
        imds(&t, "/opc/v2/instance/id").await.text().await.unwrap(),
        t.sim.host_instance_id().as_str()
    );
    let info = json(imds(&t, "/opc/v2/instance/regionInfo").await).await;
    assert_eq!(info["regionIdentifier"], "us-ashburn-1");
    assert_eq!(info["realmKey"], "oc1");
    assert_eq!(info["regionKey"], "IAD");
    assert_eq!(info["realmDomainComponent"], "oraclecloud.com");
    let doc = json(imds(&t, "/opc/v2/instance/").await).await;
    assert_eq!(doc["id"], t.sim.host_instance_id().as_str());
    assert_eq!(doc["compartmentId"], t.sim.compartment_id().as_str());
    assert_eq!(doc["canonicalRegionName"], "us-ashburn-1");
    assert_eq!(doc["region"], "iad");
    assert!(doc["timeCreated"].as_i64().unwrap() > 1_600_000_000_000);
}

#[tokio::test]
async fn instance_certificate_names_instance_compartment_and_tenancy() {
    let t = TestSim::start().await;
    let cert = imds(&t, "/opc/v2/identity/cert.pem")
        .await
        .text()
        .await
        .unwrap();
    let inter = imds(&t, "/opc/v2/identity/intermediate.pem")
        .await
        .text()
        .await
        .unwrap();
    let key = imds(&t, "/opc/v2/identity/key.pem")
        .await
        .text()
        .await
        .unwrap();
    let cert = x509_cert::Certificate::from_der(&pem_to_der(&cert)).unwrap();
    let inter = x509_cert::Certificate::from_der(&pem_to_der(&inter)).unwrap();
    let ous: Vec<String> = cert
        .tbs_certificate()
        .subject()
        .iter()
        .filter(|a| a.oid.to_string() == "2.5.4.11")
        .map(|a| String::from_utf8_lossy(a.value.value()).into_owned())
        .collect();
    assert_eq!(
        ous,
        vec![
            "opc-certtype:instance".to_string(),
            format!("opc-instance:{}", t.sim.host_instance_id()),
            format!("opc-compartment:{}", t.sim.compartment_id()),
            format!("opc-tenant:{}", t.sim.tenancy_id()),
        ]
    );
    assert_eq!(
        cert.tbs_certificate().issuer(),
        inter.tbs_certificate().subject()
    );
    // key.pem is the private half of the certificate's public key.
    let signer = super::common::TestSigner::from_pkcs8(&pem_to_der(&key), String::new());
    use x509_cert::der::Encode as _;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    assert_eq!(signer.public_spki_der(), spki);
}
