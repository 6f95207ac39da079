//! OCI regions, their short codes and realms.
//!
//! The tables are the data of the OCI Python SDK's `regions_definitions.py` (73 regions,
//! 17 realms) plus the realms the Go SDK lists (oc42, oc51, oc52). A region fleetctl does not
//! know is still accepted: its realm comes from `OCI_REGION_METADATA` (OCI Functions sets it)
//! when that names the region, else from `OCI_DEFAULT_REALM` (taken as the second-level
//! domain), else `oraclecloud.com`. A region containing a `.` is taken as a full domain
//! (`https://<service>.<region>`), as the SDKs do.
//!
//! A region that is neither in the table nor described by `OCI_REGION_METADATA` is most
//! likely misspelt: resolving it logs a warning naming it and the realm assumed, and
//! [`Region::is_known`] is false, so a failure to reach its hosts can say so.

use std::fmt;

use crate::env::Env;

/// Short code → region id (`iad` → `us-ashburn-1`).
const SHORT_CODES: &[(&str, &str)] = &[
    ("yny", "ap-chuncheon-1"),
    ("hyd", "ap-hyderabad-1"),
    ("mel", "ap-melbourne-1"),
    ("bom", "ap-mumbai-1"),
    ("kix", "ap-osaka-1"),
    ("icn", "ap-seoul-1"),
    ("syd", "ap-sydney-1"),
    ("nrt", "ap-tokyo-1"),
    ("yul", "ca-montreal-1"),
    ("yyz", "ca-toronto-1"),
    ("ams", "eu-amsterdam-1"),
    ("fra", "eu-frankfurt-1"),
    ("zrh", "eu-zurich-1"),
    ("jed", "me-jeddah-1"),
    ("dxb", "me-dubai-1"),
    ("gru", "sa-saopaulo-1"),
    ("cwl", "uk-cardiff-1"),
    ("lhr", "uk-london-1"),
    ("iad", "us-ashburn-1"),
    ("phx", "us-phoenix-1"),
    ("sjc", "us-sanjose-1"),
    ("vcp", "sa-vinhedo-1"),
    ("scl", "sa-santiago-1"),
    ("mtz", "il-jerusalem-1"),
    ("mrs", "eu-marseille-1"),
    ("sin", "ap-singapore-1"),
    ("auh", "me-abudhabi-1"),
    ("lin", "eu-milan-1"),
    ("arn", "eu-stockholm-1"),
    ("jnb", "af-johannesburg-1"),
    ("cdg", "eu-paris-1"),
    ("qro", "mx-queretaro-1"),
    ("mad", "eu-madrid-1"),
    ("ord", "us-chicago-1"),
    ("mty", "mx-monterrey-1"),
    ("aga", "us-saltlake-2"),
    ("bog", "sa-bogota-1"),
    ("vap", "sa-valparaiso-1"),
    ("xsp", "ap-singapore-2"),
    ("ruh", "me-riyadh-1"),
    ("lfi", "us-langley-1"),
    ("luf", "us-luke-1"),
    ("ric", "us-gov-ashburn-1"),
    ("pia", "us-gov-chicago-1"),
    ("tus", "us-gov-phoenix-1"),
    ("ltn", "uk-gov-london-1"),
    ("brs", "uk-gov-cardiff-1"),
    ("nja", "ap-chiyoda-1"),
    ("ukb", "ap-ibaraki-1"),
    ("mct", "me-dcc-muscat-1"),
    ("wga", "ap-dcc-canberra-1"),
    ("bgy", "eu-dcc-milan-1"),
    ("mxp", "eu-dcc-milan-2"),
    ("snn", "eu-dcc-dublin-2"),
    ("dtm", "eu-dcc-rating-2"),
    ("dus", "eu-dcc-rating-1"),
    ("ork", "eu-dcc-dublin-1"),
    ("dac", "ap-dcc-gazipur-1"),
    ("vll", "eu-madrid-2"),
    ("str", "eu-frankfurt-2"),
    ("beg", "eu-jovanovac-1"),
    ("doh", "me-dcc-doha-1"),
    ("ebb", "us-somerset-1"),
    ("ebl", "us-thames-1"),
    ("avz", "eu-dcc-zurich-1"),
    ("avf", "eu-crissier-1"),
    ("ahu", "me-abudhabi-3"),
    ("rba", "me-alain-1"),
    ("rkt", "me-abudhabi-2"),
    ("shj", "me-abudhabi-4"),
    ("dtz", "ap-seoul-2"),
    ("dln", "ap-suwon-1"),
    ("bno", "ap-chuncheon-2"),
];

/// Region id → realm key.
const REGION_REALMS: &[(&str, &str)] = &[
    ("ap-chuncheon-1", "oc1"),
    ("ap-hyderabad-1", "oc1"),
    ("ap-melbourne-1", "oc1"),
    ("ap-mumbai-1", "oc1"),
    ("ap-osaka-1", "oc1"),
    ("ap-seoul-1", "oc1"),
    ("ap-sydney-1", "oc1"),
    ("ap-tokyo-1", "oc1"),
    ("ca-montreal-1", "oc1"),
    ("ca-toronto-1", "oc1"),
    ("eu-amsterdam-1", "oc1"),
    ("eu-frankfurt-1", "oc1"),
    ("eu-zurich-1", "oc1"),
    ("me-jeddah-1", "oc1"),
    ("me-dubai-1", "oc1"),
    ("sa-saopaulo-1", "oc1"),
    ("uk-cardiff-1", "oc1"),
    ("uk-london-1", "oc1"),
    ("us-ashburn-1", "oc1"),
    ("us-phoenix-1", "oc1"),
    ("us-sanjose-1", "oc1"),
    ("sa-vinhedo-1", "oc1"),
    ("sa-santiago-1", "oc1"),
    ("il-jerusalem-1", "oc1"),
    ("eu-marseille-1", "oc1"),
    ("ap-singapore-1", "oc1"),
    ("me-abudhabi-1", "oc1"),
    ("eu-milan-1", "oc1"),
    ("eu-stockholm-1", "oc1"),
    ("af-johannesburg-1", "oc1"),
    ("eu-paris-1", "oc1"),
    ("mx-queretaro-1", "oc1"),
    ("eu-madrid-1", "oc1"),
    ("us-chicago-1", "oc1"),
    ("mx-monterrey-1", "oc1"),
    ("us-saltlake-2", "oc1"),
    ("sa-bogota-1", "oc1"),
    ("sa-valparaiso-1", "oc1"),
    ("ap-singapore-2", "oc1"),
    ("me-riyadh-1", "oc1"),
    ("us-langley-1", "oc2"),
    ("us-luke-1", "oc2"),
    ("us-gov-ashburn-1", "oc3"),
    ("us-gov-chicago-1", "oc3"),
    ("us-gov-phoenix-1", "oc3"),
    ("uk-gov-london-1", "oc4"),
    ("uk-gov-cardiff-1", "oc4"),
    ("ap-chiyoda-1", "oc8"),
    ("ap-ibaraki-1", "oc8"),
    ("me-dcc-muscat-1", "oc9"),
    ("ap-dcc-canberra-1", "oc10"),
    ("eu-dcc-milan-1", "oc14"),
    ("eu-dcc-milan-2", "oc14"),
    ("eu-dcc-dublin-2", "oc14"),
    ("eu-dcc-rating-2", "oc14"),
    ("eu-dcc-rating-1", "oc14"),
    ("eu-dcc-dublin-1", "oc14"),
    ("ap-dcc-gazipur-1", "oc15"),
    ("eu-madrid-2", "oc19"),
    ("eu-frankfurt-2", "oc19"),
    ("eu-jovanovac-1", "oc20"),
    ("me-dcc-doha-1", "oc21"),
    ("us-somerset-1", "oc23"),
    ("us-thames-1", "oc23"),
    ("eu-dcc-zurich-1", "oc24"),
    ("eu-crissier-1", "oc24"),
    ("me-abudhabi-3", "oc26"),
    ("me-alain-1", "oc26"),
    ("me-abudhabi-2", "oc29"),
    ("me-abudhabi-4", "oc29"),
    ("ap-seoul-2", "oc35"),
    ("ap-suwon-1", "oc35"),
    ("ap-chuncheon-2", "oc35"),
];

/// Realm key → second-level domain.
const REALMS: &[(&str, &str)] = &[
    ("oc1", "oraclecloud.com"),
    ("oc2", "oraclegovcloud.com"),
    ("oc3", "oraclegovcloud.com"),
    ("oc4", "oraclegovcloud.uk"),
    ("oc8", "oraclecloud8.com"),
    ("oc9", "oraclecloud9.com"),
    ("oc10", "oraclecloud10.com"),
    ("oc14", "oraclecloud14.com"),
    ("oc15", "oraclecloud15.com"),
    ("oc19", "oraclecloud.eu"),
    ("oc20", "oraclecloud20.com"),
    ("oc21", "oraclecloud21.com"),
    ("oc23", "oraclecloud23.com"),
    ("oc24", "oraclecloud24.com"),
    ("oc26", "oraclecloud26.com"),
    ("oc29", "oraclecloud29.com"),
    ("oc35", "oraclecloud35.com"),
    ("oc42", "oraclecloud42.com"),
    ("oc51", "oraclecloud51.com"),
    ("oc52", "oraclecloud52.com"),
];

/// The default second-level domain (realm oc1).
pub const DEFAULT_SECOND_LEVEL_DOMAIN: &str = "oraclecloud.com";

/// The second-level domain of a realm key (`oc1` → `oraclecloud.com`).
pub fn realm_domain(realm: &str) -> Option<&'static str> {
    let realm = realm.trim().to_ascii_lowercase();
    REALMS
        .iter()
        .find(|(k, _)| *k == realm)
        .map(|(_, sld)| *sld)
}

/// The region id a short code stands for (`phx` → `us-phoenix-1`).
pub fn region_for_short_code(code: &str) -> Option<&'static str> {
    let code = code.trim().to_ascii_lowercase();
    SHORT_CODES
        .iter()
        .find(|(k, _)| *k == code)
        .map(|(_, id)| *id)
}

/// A region name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    /// The value is empty.
    #[error(
        "the region from {origin} is empty; set a region id such as `us-ashburn-1` (or a short \
         code such as `iad`) in the fleet file, `OCI_REGION` or the OCI config profile"
    )]
    Empty {
        /// Where the value came from.
        origin: String,
    },
    /// The value contains characters no region id has.
    #[error(
        "`{value}` (from {origin}) is not a region id: expected something like `us-ashburn-1` \
         or a short code like `iad`"
    )]
    Invalid {
        /// The value given.
        value: String,
        /// Where it came from.
        origin: String,
    },
}

/// How the endpoint domain of a region is formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Domain {
    /// `<service>.<region>.[oci.]<second-level domain>`.
    Realm {
        realm: Option<String>,
        second_level_domain: String,
    },
    /// The region string is a full domain: `<service>.<region>`.
    Full,
}

/// A resolved region: its id and how its endpoints are named.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Region {
    id: String,
    domain: Domain,
    /// False when the realm was guessed (`OCI_DEFAULT_REALM` or oc1) for a region id that is
    /// neither in the table nor in `OCI_REGION_METADATA`.
    known: bool,
}

impl Region {
    /// Resolves a region id or short code with only the built-in tables (unknown regions go
    /// to realm oc1, with a warning). `origin` names where the value came from, for errors.
    pub fn parse(value: &str, origin: &str) -> Result<Self, RegionError> {
        Self::resolve(value, origin, &Env::empty())
    }

    /// Resolves a region id or short code; unknown regions take their realm from
    /// `OCI_REGION_METADATA`, then `OCI_DEFAULT_REALM`, then oc1, and the last two log a
    /// warning (see the module docs).
    pub fn resolve(value: &str, origin: &str, env: &Env) -> Result<Self, RegionError> {
        let v = value.trim().to_ascii_lowercase();
        if v.is_empty() {
            return Err(RegionError::Empty {
                origin: origin.to_string(),
            });
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            || v.starts_with(['-', '.'])
            || v.ends_with(['-', '.'])
        {
            return Err(RegionError::Invalid {
                value: value.trim().to_string(),
                origin: origin.to_string(),
            });
        }
        if v.contains('.') {
            return Ok(Self {
                id: v,
                domain: Domain::Full,
                known: true,
            });
        }
        let id = region_for_short_code(&v).map_or(v, str::to_string);
        if let Some((_, realm)) = REGION_REALMS.iter().find(|(r, _)| *r == id) {
            let sld = realm_domain(realm).unwrap_or(DEFAULT_SECOND_LEVEL_DOMAIN);
            return Ok(Self {
                id,
                domain: Domain::Realm {
                    realm: Some((*realm).to_string()),
                    second_level_domain: sld.to_string(),
                },
                known: true,
            });
        }
        let region = Self::unknown_region(id, env);
        if !region.known {
            let assumed = match region.realm() {
                Some(realm) => format!("realm {realm}"),
                None => format!(
                    "domain `{}` from OCI_DEFAULT_REALM",
                    region.second_level_domain().unwrap_or_default()
                ),
            };
            tracing::warn!(
                region = %region.id,
                origin,
                "unknown region `{}` (from {origin}), assuming {assumed}; check the spelling \
                 (e.g. us-ashburn-1 or iad), or set OCI_REGION_METADATA for new regions",
                region.id
            );
        }
        Ok(region)
    }

    fn unknown_region(id: String, env: &Env) -> Self {
        if let Some(meta) = env.get_non_empty("OCI_REGION_METADATA")
            && let Ok(meta) = serde_json::from_str::<serde_json::Value>(meta)
        {
            let ident = meta.get("regionIdentifier").and_then(|v| v.as_str());
            let sld = meta.get("realmDomainComponent").and_then(|v| v.as_str());
            if ident.is_some_and(|i| i.eq_ignore_ascii_case(&id))
                && let Some(sld) = sld.filter(|s| !s.trim().is_empty())
            {
                let realm = meta
                    .get("realmKey")
                    .and_then(|v| v.as_str())
                    .map(str::to_ascii_lowercase);
                return Self {
                    id,
                    domain: Domain::Realm {
                        realm,
                        second_level_domain: sld.trim().to_string(),
                    },
                    known: true,
                };
            }
        }
        if let Some(sld) = env.get_non_empty("OCI_DEFAULT_REALM") {
            return Self {
                id,
                domain: Domain::Realm {
                    realm: None,
                    second_level_domain: sld.to_string(),
                },
                known: false,
            };
        }
        Self {
            id,
            domain: Domain::Realm {
                realm: Some("oc1".into()),
                second_level_domain: DEFAULT_SECOND_LEVEL_DOMAIN.into(),
            },
            known: false,
        }
    }

    /// The region id (`us-ashburn-1`), or the full domain for a dotted region.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The realm key (`oc1`) when known.
    pub fn realm(&self) -> Option<&str> {
        match &self.domain {
            Domain::Realm { realm, .. } => realm.as_deref(),
            Domain::Full => None,
        }
    }

    /// The second-level domain (`oraclecloud.com`); `None` for a dotted (full-domain) region.
    pub fn second_level_domain(&self) -> Option<&str> {
        match &self.domain {
            Domain::Realm {
                second_level_domain,
                ..
            } => Some(second_level_domain),
            Domain::Full => None,
        }
    }

    /// True when the region's realm is known rather than guessed: the region is in the
    /// built-in table, described by `OCI_REGION_METADATA`, or given as a full domain. False
    /// for a region fleetctl had to assume a realm for (most likely a misspelt region).
    pub fn is_known(&self) -> bool {
        self.known
    }

    /// The host of `service` in this region: `<service>.<region>.<sld>` (legacy style) or
    /// `<service>.<region>.oci.<sld>` (new style), or `<service>.<region>` for a dotted
    /// region.
    pub(crate) fn host(&self, service_label: &str, oci_label: bool) -> String {
        match &self.domain {
            Domain::Full => format!("{service_label}.{}", self.id),
            Domain::Realm {
                second_level_domain,
                ..
            } => {
                if oci_label {
                    format!("{service_label}.{}.oci.{second_level_domain}", self.id)
                } else {
                    format!("{service_label}.{}.{second_level_domain}", self.id)
                }
            }
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({:?}", self.id)?;
        if let Some(sld) = self.second_level_domain() {
            write!(f, ", {sld:?}")?;
        }
        f.write_str(")")
    }
}
