//! The simulator's small PKI: a root, an intermediate (the "PKISVC" that signs instance
//! certificates) and instance leaf certificates whose subject carries the `opc-*` OUs.
//!
//! The root and intermediate are made with rcgen. The leaf is encoded here by hand because its
//! subject repeats the OU attribute four times (`opc-certtype`, `opc-instance`,
//! `opc-compartment`, `opc-tenant`) and rcgen's `DistinguishedName` keeps one value per
//! attribute type. The leaf's issuer name is copied byte for byte from the intermediate.

use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::PrivatePkcs8KeyDer;
use time::OffsetDateTime;
use x509_cert::der::Decode as _;
use x509_cert::der::Encode as _;

use crate::crypto::{CryptoError, RsaKey, pem_encode, sha1_fingerprint, sha256_fingerprint};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("building the {which} certificate")]
    Rcgen {
        which: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("reading back the intermediate certificate")]
    Der(#[source] x509_cert::der::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// A certificate the simulator issued, with its key.
#[derive(Debug)]
pub struct IssuedCert {
    pub der: Vec<u8>,
    pub key: RsaKey,
    /// The certificate's notAfter (on the clock it was issued with: the simulated one).
    pub not_after: SystemTime,
}

impl IssuedCert {
    pub fn pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }
    pub fn sha1_fingerprint(&self) -> String {
        sha1_fingerprint(&self.der)
    }
    pub fn sha256_fingerprint(&self) -> String {
        sha256_fingerprint(&self.der)
    }
}

/// The CA chain: root (self-signed) and intermediate (signed by the root).
#[derive(Debug)]
pub struct CertificateAuthority {
    pub root: IssuedCert,
    pub intermediate: IssuedCert,
    intermediate_subject_der: Vec<u8>,
    next_serial: u64,
}

/// Who a leaf certificate speaks for.
#[derive(Debug, Clone)]
pub struct LeafSubject {
    pub instance_id: String,
    pub compartment_id: String,
    pub tenancy_id: String,
}

fn rcgen_key(key: &RsaKey, which: &'static str) -> Result<KeyPair, PkiError> {
    let der = PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec());
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
        .map_err(|source| PkiError::Rcgen { which, source })
}

fn ca_params(cn: &str, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + CA_LIFETIME;
    params
}

/// How long the root and the intermediate are valid (ten years).
const CA_LIFETIME: Duration = Duration::from_secs(3650 * 24 * 3600);

impl CertificateAuthority {
    pub fn new(now: SystemTime) -> Result<Self, PkiError> {
        let ca_not_after = now + CA_LIFETIME;
        let now = OffsetDateTime::from(now);
        let root_key = RsaKey::generate()?;
        let root_rc = rcgen_key(&root_key, "root")?;
        let root_params = ca_params("oci-sim PKISVC Identity Root", now);
        let root_cert = root_params
            .self_signed(&root_rc)
            .map_err(|source| PkiError::Rcgen {
                which: "root",
                source,
            })?;
        let inter_key = RsaKey::generate()?;
        let inter_rc = rcgen_key(&inter_key, "intermediate")?;
        let inter_params = ca_params("oci-sim PKISVC Identity Intermediate", now);
        let issuer = Issuer::new(root_params, root_rc);
        let inter_cert = inter_params
            .signed_by(&inter_rc, &issuer)
            .map_err(|source| PkiError::Rcgen {
                which: "intermediate",
                source,
            })?;
        let inter_der = inter_cert.der().to_vec();
        let parsed = x509_cert::Certificate::from_der(&inter_der).map_err(PkiError::Der)?;
        let intermediate_subject_der = parsed
            .tbs_certificate()
            .subject()
            .to_der()
            .map_err(PkiError::Der)?;
        Ok(Self {
            root: IssuedCert {
                der: root_cert.der().to_vec(),
                key: root_key,
                not_after: ca_not_after,
            },
            intermediate: IssuedCert {
                der: inter_der,
                key: inter_key,
                not_after: ca_not_after,
            },
            intermediate_subject_der,
            next_serial: 0x1000,
        })
    }

    /// Issues an instance leaf certificate for `key`, valid for `lifetime` from `now`.
    pub fn issue_instance_leaf(
        &mut self,
        subject: &LeafSubject,
        key: RsaKey,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<IssuedCert, PkiError> {
        self.next_serial += 1;
        let not_before = OffsetDateTime::from(now) - time::Duration::minutes(5);
        let expires = now + lifetime;
        let not_after = OffsetDateTime::from(expires);
        let subject_der = dn(&[
            (OID_CN, format!("oci-sim-instance-{}", self.next_serial)),
            (OID_OU, "opc-certtype:instance".to_string()),
            (OID_OU, format!("opc-instance:{}", subject.instance_id)),
            (
                OID_OU,
                format!("opc-compartment:{}", subject.compartment_id),
            ),
            (OID_OU, format!("opc-tenant:{}", subject.tenancy_id)),
        ]);
        let sig_alg = seq(&[OID_SHA256_WITH_RSA.to_vec(), vec![0x05, 0x00]]);
        let extensions = tlv(
            0xA3,
            &seq(&[
                // basicConstraints, critical, CA:FALSE
                seq(&[
                    OID_BASIC_CONSTRAINTS.to_vec(),
                    vec![0x01, 0x01, 0xFF],
                    tlv(0x04, &seq(&[])),
                ]),
                // keyUsage, critical, digitalSignature + keyEncipherment
                seq(&[
                    OID_KEY_USAGE.to_vec(),
                    vec![0x01, 0x01, 0xFF],
                    tlv(0x04, &[0x03, 0x02, 0x05, 0xA0]),
                ]),
            ]),
        );
        let tbs = seq(&[
            tlv(0xA0, &[0x02, 0x01, 0x02]),
            integer(&self.next_serial.to_be_bytes()),
            sig_alg.clone(),
            self.intermediate_subject_der.clone(),
            seq(&[der_time(not_before), der_time(not_after)]),
            subject_der,
            key.public_spki_der().to_vec(),
            extensions,
        ]);
        let signature = self.intermediate.key.sign_sha256(&tbs)?;
        let mut bits = vec![0u8];
        bits.extend_from_slice(&signature);
        let der = seq(&[tbs, sig_alg, tlv(0x03, &bits)]);
        Ok(IssuedCert {
            der,
            key,
            not_after: expires,
        })
    }
}

const OID_CN: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
const OID_OU: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x0B];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x06, 0x03, 0x55, 0x1D, 0x13];
const OID_KEY_USAGE: &[u8] = &[0x06, 0x03, 0x55, 0x1D, 0x0F];
const OID_SHA256_WITH_RSA: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B,
];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn integer(be: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = if trimmed.is_empty() { vec![0] } else { trimmed };
    if content[0] & 0x80 != 0 {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

/// A Name: one RDN per attribute, in order, values as UTF8String.
fn dn(attrs: &[(&[u8], String)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attrs
        .iter()
        .map(|(oid, value)| tlv(0x31, &seq(&[oid.to_vec(), tlv(0x0C, value.as_bytes())])))
        .collect();
    seq(&rdns)
}

/// UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5).
fn der_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (y, mo, d, h, mi, s) = (
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    );
    if (1950..2050).contains(&y) {
        tlv(
            0x17,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        )
    } else {
        tlv(
            0x18,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_certificate_parses_and_carries_the_opc_subject() {
        let now = SystemTime::now();
        let mut ca = CertificateAuthority::new(now).unwrap();
        let subject = LeafSubject {
            instance_id: "ocid1.instance.oc1.iad.aaaaaaaainstance".into(),
            compartment_id: "ocid1.compartment.oc1..aaaaaaaacompartment".into(),
            tenancy_id: "ocid1.tenancy.oc1..aaaaaaaatenancy".into(),
        };
        let leaf = ca
            .issue_instance_leaf(
                &subject,
                RsaKey::generate().unwrap(),
                now,
                Duration::from_secs(3600),
            )
            .unwrap();
        let parsed = x509_cert::Certificate::from_der(&leaf.der).unwrap();
        let ous: Vec<String> = parsed
            .tbs_certificate()
            .subject()
            .iter()
            .filter(|atv| atv.oid == x509_cert::spki::ObjectIdentifier::new_unwrap("2.5.4.11"))
            .map(|atv| String::from_utf8_lossy(atv.value.value()).into_owned())
            .collect();
        assert_eq!(
            ous,
            vec![
                "opc-certtype:instance".to_string(),
                format!("opc-instance:{}", subject.instance_id),
                format!("opc-compartment:{}", subject.compartment_id),
                format!("opc-tenant:{}", subject.tenancy_id),
            ]
        );
        let inter = x509_cert::Certificate::from_der(&ca.intermediate.der).unwrap();
        assert_eq!(
            parsed.tbs_certificate().issuer(),
            inter.tbs_certificate().subject()
        );
    }
}
