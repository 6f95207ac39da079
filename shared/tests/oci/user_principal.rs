//! User principals from the OCI config file: parsing with DEFAULT inheritance, file and profile
//! selection, environment overrides, path expansion, keys, the fingerprint warning, session
//! tokens, and provider selection.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fleetctl_core::clock::ManualClock;
use fleetctl_core::env::Env;
use fleetctl_core::oci::auth::config_file::{OciConfigFile, expand_path, locate_config_file};
use fleetctl_core::oci::auth::user::{fingerprints_match, is_session_profile, select_profile};
use fleetctl_core::oci::auth::{
    ApiKeyProvider, AuthContext, AuthError, AuthMethod, AuthSettings, CredentialProvider,
    PrincipalKind, build_provider, detect_method,
};
use fleetctl_core::oci::keys::KeyError;
use fleetctl_core::oci::signer::KeyId;
use oci_support::*;
use time::macros::datetime;

const TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaatestvectortenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const USER: &str = "ocid1.user.oc1..aaaaaaaatestvectoruserxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const FP: &str = "da:e9:db:f7:6d:57:95:3f:64:54:e7:73:f4:2a:6d:c0";

/// A fake home directory with `.oci/config` and the test keys.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ".oci/config", config);
        write(
            dir.path(),
            ".oci/key.pem",
            &key_pem("private_key_pkcs8_pem"),
        );
        write(
            dir.path(),
            ".oci/key_pkcs1.pem",
            &key_pem("private_key_pkcs1_pem"),
        );
        write(
            dir.path(),
            ".oci/enc.pem",
            &key_pem("private_key_pkcs8_encrypted_pem"),
        );
        write(
            dir.path(),
            ".oci/enc_legacy.pem",
            &key_pem("private_key_pkcs1_encrypted_pem"),
        );
        write(
            dir.path(),
            ".oci/enc_semicolon.pem",
            &data("key_pkcs8_encrypted_semicolon_pass.pem"),
        );
        write(dir.path(), ".oci/second.pem", &data("second_key_pkcs8.pem"));
        Self { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn config(&self) -> PathBuf {
        self.path().join(".oci/config")
    }
    fn env(&self) -> Env {
        Env::from_pairs([("HOME", self.path().to_str().unwrap())])
    }
    fn ctx(&self) -> AuthContext {
        AuthContext::new(self.env()).with_clock(Arc::new(ManualClock::new(VECTOR_DATE)))
    }
}

fn api_key_config(extra_default: &str, extra_profile: &str) -> String {
    format!(
        "[DEFAULT]\nuser={USER}\nfingerprint={FP}\ntenancy={TENANCY}\nregion=us-ashburn-1\nkey_file=~/.oci/key.pem\n{extra_default}\n\n[OTHER]\n{extra_profile}\n"
    )
}

fn settings(method: Option<AuthMethod>) -> AuthSettings {
    AuthSettings {
        method,
        ..AuthSettings::default()
    }
}

// ------------------------------------------------------------------------------------------
// Parsing
// ------------------------------------------------------------------------------------------

#[test]
fn profiles_inherit_every_default_key_unless_overridden() {
    let text = "[DEFAULT]\nuser = u-default\ntenancy: t-default\nregion=iad\n\n# a comment\n; another\n[ADMIN]\nUSER=u-admin\n";
    let file = OciConfigFile::parse(text, Path::new("/x/config")).unwrap();
    assert_eq!(file.profile_names(), ["DEFAULT", "ADMIN"]);
    let admin = file.profile("ADMIN").unwrap();
    assert_eq!(admin.get("user"), Some("u-admin"));
    assert!(!admin.is_inherited("user"));
    assert_eq!(
        admin.get("tenancy"),
        Some("t-default"),
        "`:` separator and inheritance"
    );
    assert!(admin.is_inherited("tenancy"));
    let default = file.profile("DEFAULT").unwrap();
    assert_eq!(default.get("user"), Some("u-default"));
}

#[test]
fn values_keep_semicolons_and_hashes() {
    let text = "[DEFAULT]\npass_phrase=se;cr#et\nkey_file=C:\\keys\\a.pem\n";
    let p = OciConfigFile::parse(text, Path::new("/x/config"))
        .unwrap()
        .profile("DEFAULT")
        .unwrap();
    assert_eq!(p.get("pass_phrase"), Some("se;cr#et"));
    assert_eq!(
        p.get("key_file"),
        Some("C:\\keys\\a.pem"),
        "backslashes are not escapes"
    );
}

#[test]
fn a_missing_profile_error_lists_the_profiles_that_exist() {
    let file =
        OciConfigFile::parse("[DEFAULT]\na=1\n[prod]\nb=2\n", Path::new("/x/config")).unwrap();
    let err = file.profile("staging").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("[staging]") && msg.contains("/x/config"),
        "{msg}"
    );
    assert!(msg.contains("[DEFAULT], [prod]"), "{msg}");
}

#[test]
fn profile_names_are_case_sensitive() {
    let file = OciConfigFile::parse("[Prod]\na=1\n", Path::new("/x/config")).unwrap();
    assert!(file.profile("Prod").is_ok());
    assert!(matches!(
        file.profile("prod"),
        Err(AuthError::ProfileNotFound { .. })
    ));
}

#[test]
fn duplicate_profiles_and_keys_and_orphan_keys_are_refused() {
    let err = OciConfigFile::parse("[A]\nx=1\n[A]\ny=2\n", Path::new("/x/c")).unwrap_err();
    assert!(
        matches!(err, AuthError::DuplicateProfile { ref profile, .. } if profile == "A"),
        "{err:?}"
    );
    let err = OciConfigFile::parse("[A]\nx=1\nX=2\n", Path::new("/x/c")).unwrap_err();
    assert!(
        matches!(err, AuthError::DuplicateKey { ref key, .. } if key == "x"),
        "{err:?}"
    );
    let err = OciConfigFile::parse("x=1\n[A]\ny=2\n", Path::new("/x/c")).unwrap_err();
    assert!(
        matches!(err, AuthError::KeysOutsideProfile { .. }),
        "{err:?}"
    );
}

#[test]
fn tilde_and_variables_are_expanded_in_paths() {
    let env = Env::from_pairs([("HOME", "/home/ann"), ("KEYS", "/srv/keys")]);
    assert_eq!(
        expand_path("~/.oci/key.pem", &env),
        PathBuf::from("/home/ann/.oci/key.pem")
    );
    assert_eq!(
        expand_path("$KEYS/a.pem", &env),
        PathBuf::from("/srv/keys/a.pem")
    );
    assert_eq!(
        expand_path("${KEYS}/b.pem", &env),
        PathBuf::from("/srv/keys/b.pem")
    );
    assert_eq!(
        expand_path("$NOPE/c.pem", &env),
        PathBuf::from("$NOPE/c.pem"),
        "unknown variables stay"
    );
    assert_eq!(expand_path("~", &env), PathBuf::from("/home/ann"));
    assert_eq!(expand_path("/abs/~x", &env), PathBuf::from("/abs/~x"));
}

// ------------------------------------------------------------------------------------------
// Where the file and profile come from
// ------------------------------------------------------------------------------------------

#[test]
fn config_file_order_is_explicit_then_cli_env_then_home_then_sdk_env() {
    let home = Home::new("[DEFAULT]\n");
    let other = write(home.path(), "other/config", "[DEFAULT]\n");
    let cli = write(home.path(), "cli/config", "[DEFAULT]\n");
    let sdk = write(home.path(), "sdk/config", "[DEFAULT]\n");
    let env = home
        .env()
        .with("OCI_CLI_CONFIG_FILE", cli.to_str().unwrap())
        .with("OCI_CONFIG_FILE", sdk.to_str().unwrap());
    let found = locate_config_file(Some(&other), &env).unwrap().unwrap();
    assert_eq!(found.path, other);
    let found = locate_config_file(None, &env).unwrap().unwrap();
    assert_eq!(
        (found.path, found.origin.as_str()),
        (cli, "env OCI_CLI_CONFIG_FILE")
    );
    let env = home.env().with("OCI_CONFIG_FILE", sdk.to_str().unwrap());
    assert_eq!(
        locate_config_file(None, &env).unwrap().unwrap().path,
        home.config()
    );
    std::fs::remove_file(home.config()).unwrap();
    assert_eq!(locate_config_file(None, &env).unwrap().unwrap().path, sdk);
    assert_eq!(locate_config_file(None, &home.env()).unwrap(), None);
}

#[test]
fn a_named_config_file_that_is_missing_is_an_error_not_a_fallback() {
    let home = Home::new("[DEFAULT]\n");
    let err = locate_config_file(Some(Path::new("/nonexistent/config")), &home.env()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/config"), "{err}");
    let env = home.env().with("OCI_CLI_CONFIG_FILE", "/nonexistent/cli");
    let err = locate_config_file(None, &env).unwrap_err();
    assert!(err.to_string().contains("OCI_CLI_CONFIG_FILE"), "{err}");
}

#[test]
fn profile_is_explicit_then_cli_env_then_default() {
    let env = Env::from_pairs([("OCI_CLI_PROFILE", "FROM_ENV")]);
    assert_eq!(select_profile(Some("X"), &env), "X");
    assert_eq!(select_profile(None, &env), "FROM_ENV");
    assert_eq!(select_profile(None, &Env::empty()), "DEFAULT");
}

#[test]
fn method_detection_prefers_resource_then_config_then_instance() {
    let home = Home::new("[DEFAULT]\n");
    let s = settings(None);
    assert_eq!(detect_method(&s, &home.env()).unwrap(), AuthMethod::User);
    let rp = home.env().with("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2");
    assert_eq!(detect_method(&s, &rp).unwrap(), AuthMethod::Resource);
    let empty_home = tempfile::tempdir().unwrap();
    let env = Env::from_pairs([("HOME", empty_home.path().to_str().unwrap())]);
    assert_eq!(detect_method(&s, &env).unwrap(), AuthMethod::Instance);
}

#[tokio::test]
async fn method_user_without_any_config_file_says_where_it_looked() {
    let empty_home = tempfile::tempdir().unwrap();
    let ctx = AuthContext::new(Env::from_pairs([(
        "HOME",
        empty_home.path().to_str().unwrap(),
    )]));
    let err = build_provider(&settings(Some(AuthMethod::User)), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::NoConfigFile { .. }), "{err:?}");
    assert!(err.to_string().contains(".oci/config"), "{err}");
    assert!(err.is_configuration_problem());
}

// ------------------------------------------------------------------------------------------
// API key provider
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn api_key_profile_signs_with_tenancy_user_fingerprint() {
    let home = Home::new(&api_key_config("", ""));
    let p = build_provider(&settings(None), &home.ctx()).await.unwrap();
    let creds = p.credentials().await.unwrap();
    assert_eq!(
        creds.key_id.header_value(),
        format!("{TENANCY}/{USER}/{FP}")
    );
    assert_eq!(creds.key, vector_key());
    let principal = p.principal();
    assert_eq!(principal.kind, PrincipalKind::ApiKey);
    assert_eq!(principal.tenancy.as_str(), TENANCY);
    assert_eq!(principal.user.as_ref().map(|u| u.as_str()), Some(USER));
    assert!(
        principal.source.contains("[DEFAULT]"),
        "{}",
        principal.source
    );
    assert_eq!(p.region().unwrap().id(), "us-ashburn-1");
}

#[tokio::test]
async fn a_named_profile_inherits_the_key_and_overrides_the_region_with_a_short_code() {
    let home = Home::new(&api_key_config(
        "",
        "region=phx\nkey_file=~/.oci/key_pkcs1.pem",
    ));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(Some(AuthMethod::User))
    };
    let p = build_provider(&s, &home.ctx()).await.unwrap();
    assert_eq!(p.region().unwrap().id(), "us-phoenix-1");
    assert_eq!(p.credentials().await.unwrap().key, vector_key());
    assert!(p.principal().source.contains("[OTHER]"));
}

#[tokio::test]
async fn oci_cli_profile_env_selects_the_profile() {
    let home = Home::new(&api_key_config("", "region=fra"));
    let ctx = AuthContext::new(home.env().with("OCI_CLI_PROFILE", "OTHER"));
    let p = build_provider(&settings(None), &ctx).await.unwrap();
    assert_eq!(p.region().unwrap().id(), "eu-frankfurt-1");
}

#[tokio::test]
async fn region_precedence_is_setting_then_oci_region_then_profile() {
    let home = Home::new(&api_key_config("", ""));
    let ctx = AuthContext::new(home.env().with("OCI_REGION", "lhr"));
    let p = build_provider(&settings(None), &ctx).await.unwrap();
    assert_eq!(p.region().unwrap().id(), "uk-london-1");
    let s = AuthSettings {
        region: Some("nrt".into()),
        ..settings(None)
    };
    let p = build_provider(&s, &ctx).await.unwrap();
    assert_eq!(p.region().unwrap().id(), "ap-tokyo-1");
}

#[tokio::test]
async fn an_empty_region_is_an_error_with_a_hint() {
    let home = Home::new(&api_key_config("", "region="));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let err = build_provider(&s, &home.ctx()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("empty") && msg.contains("us-ashburn-1") && msg.contains("[OTHER]"),
        "{msg}"
    );
    let err = build_provider(
        &AuthSettings {
            region: Some("  ".into()),
            ..settings(None)
        },
        &home.ctx(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("`region` setting"), "{err}");
}

#[tokio::test]
async fn oci_cli_env_values_override_the_profile() {
    let home = Home::new(&api_key_config("", ""));
    let second = home.path().join(".oci/second.pem");
    let env = home
        .env()
        .with("OCI_CLI_USER", "ocid1.user.oc1..fromenv")
        .with("OCI_CLI_KEY_FILE", second.to_str().unwrap())
        .with(
            "OCI_CLI_FINGERPRINT",
            "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5",
        )
        .with("OCI_CLI_REGION", "sjc");
    let p = build_provider(&settings(None), &AuthContext::new(env))
        .await
        .unwrap();
    let creds = p.credentials().await.unwrap();
    assert_eq!(
        creds.key_id.header_value(),
        format!(
            "{TENANCY}/ocid1.user.oc1..fromenv/26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5"
        )
    );
    assert_eq!(
        creds.key.fingerprint(),
        "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5"
    );
    assert_eq!(p.region().unwrap().id(), "us-sanjose-1");
}

#[tokio::test]
async fn key_file_paths_expand_variables_from_the_injected_env() {
    let home = Home::new(&api_key_config(
        "",
        "key_file=$KEYDIR/second.pem\nfingerprint=26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5",
    ));
    let env = home
        .env()
        .with("KEYDIR", home.path().join(".oci").to_str().unwrap());
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let p = build_provider(&s, &AuthContext::new(env)).await.unwrap();
    assert_eq!(
        p.credentials().await.unwrap().key.fingerprint(),
        "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5"
    );
}

#[tokio::test]
async fn each_missing_key_is_named_with_file_and_profile() {
    for missing in ["user", "fingerprint", "tenancy", "key_file"] {
        let lines: String = [
            ("user", USER),
            ("fingerprint", FP),
            ("tenancy", TENANCY),
            ("key_file", "~/.oci/key.pem"),
        ]
        .iter()
        .filter(|(k, _)| *k != missing)
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
        let home = Home::new(&format!("[DEFAULT]\nregion=iad\n[P]\n{lines}"));
        let s = AuthSettings {
            profile: Some("P".into()),
            ..settings(Some(AuthMethod::User))
        };
        let err = build_provider(&s, &home.ctx()).await.unwrap_err();
        assert!(
            matches!(err, AuthError::MissingConfigKey { key, .. } if key == missing),
            "{missing}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("`{missing}`"))
                && msg.contains("[P]")
                && msg.contains(".oci/config"),
            "{msg}"
        );
        assert!(err.is_configuration_problem());
    }
}

#[tokio::test]
async fn an_unreadable_key_file_names_the_file_and_profile() {
    let home = Home::new(&api_key_config("", "key_file=~/.oci/missing.pem"));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let err = build_provider(&s, &home.ctx()).await.unwrap_err();
    assert!(
        matches!(err, AuthError::KeyFileUnreadable { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("missing.pem") && msg.contains("[OTHER]") && msg.contains("key_file"),
        "{msg}"
    );
}

#[tokio::test]
async fn encrypted_keys_load_with_the_profile_pass_phrase() {
    for (file, pass) in [
        ("enc.pem", PASSPHRASE),
        ("enc_legacy.pem", PASSPHRASE),
        ("enc_semicolon.pem", "se;cr#et"),
    ] {
        let home = Home::new(&api_key_config(
            "",
            &format!("key_file=~/.oci/{file}\npass_phrase={pass}"),
        ));
        let s = AuthSettings {
            profile: Some("OTHER".into()),
            ..settings(None)
        };
        let p = build_provider(&s, &home.ctx())
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(p.credentials().await.unwrap().key, vector_key(), "{file}");
    }
}

#[tokio::test]
async fn an_encrypted_key_without_pass_phrase_is_a_clear_error() {
    let home = Home::new(&api_key_config("", "key_file=~/.oci/enc.pem"));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let err = build_provider(&s, &home.ctx()).await.unwrap_err();
    match &err {
        AuthError::Key { source, origin } => {
            assert!(matches!(source, KeyError::PassphraseRequired));
            assert!(
                origin.contains("enc.pem") && origin.contains("[OTHER]"),
                "{origin}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_pass_phrase_is_an_error_that_does_not_repeat_it() {
    let home = Home::new(&api_key_config(
        "",
        "key_file=~/.oci/enc.pem\npass_phrase=wrong-pass-123",
    ));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let err = build_provider(&s, &home.ctx()).await.unwrap_err();
    let source = std::error::Error::source(&err)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let text = format!("{err} {err:?} {source}");
    assert!(text.contains("passphrase does not decrypt"), "{text}");
    assert!(!text.contains("wrong-pass-123"), "{text}");
}

#[tokio::test]
async fn a_pass_phrase_inherited_from_default_is_ignored_for_an_unencrypted_key() {
    let home = Home::new(&api_key_config(
        "pass_phrase=only-for-default",
        "key_file=~/.oci/key_pkcs1.pem",
    ));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let p = build_provider(&s, &home.ctx()).await.unwrap();
    assert_eq!(p.credentials().await.unwrap().key, vector_key());
}

#[test]
fn a_fingerprint_mismatch_is_a_warning_not_an_error() {
    let home = Home::new(&api_key_config(
        "",
        "fingerprint=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
    ));
    let file = OciConfigFile::load(&home.config()).unwrap();
    let (captured, guard) = capture_tracing();
    let p =
        ApiKeyProvider::from_profile(&file.profile("OTHER").unwrap(), &home.env(), None).unwrap();
    drop(guard);
    let warnings = captured.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains(FP),
        "the key's real fingerprint is shown: {}",
        warnings[0]
    );
    assert!(warnings[0].contains("[OTHER]"), "{}", warnings[0]);
    // The keyId names the key's own fingerprint, the only one its signatures verify against;
    // OCI decides whether that key is the user's.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let creds = rt.block_on(p.credentials()).unwrap();
    assert_eq!(
        creds.key_id.header_value(),
        format!("{TENANCY}/{USER}/{FP}")
    );
}

#[tokio::test]
async fn the_key_id_names_the_fingerprint_as_oci_computes_it_whatever_the_profile_case() {
    let upper = FP.to_ascii_uppercase();
    assert_ne!(upper, FP);
    let home = Home::new(&api_key_config("", &format!("fingerprint= {upper} ")));
    let file = OciConfigFile::load(&home.config()).unwrap();
    let (captured, guard) = capture_tracing();
    let p =
        ApiKeyProvider::from_profile(&file.profile("OTHER").unwrap(), &home.env(), None).unwrap();
    drop(guard);
    assert!(captured.warnings().is_empty(), "{:?}", captured.warnings());
    let creds = p.credentials().await.unwrap();
    assert_eq!(
        creds.key_id.header_value(),
        format!("{TENANCY}/{USER}/{FP}"),
        "lower-case colon hex, as OCI computes it"
    );
}

#[test]
fn a_matching_fingerprint_emits_no_warning() {
    let home = Home::new(&api_key_config("", ""));
    let file = OciConfigFile::load(&home.config()).unwrap();
    let (captured, guard) = capture_tracing();
    ApiKeyProvider::from_profile(&file.profile("DEFAULT").unwrap(), &home.env(), None).unwrap();
    drop(guard);
    assert!(captured.warnings().is_empty(), "{:?}", captured.warnings());
    assert!(fingerprints_match(
        " DA:E9:db:f7:6d:57:95:3f:64:54:e7:73:f4:2a:6d:c0 ",
        FP
    ));
}

/// Issue 12 item 5: a key file its group or others can read is a warning naming the file and
/// its mode, once per file (a session provider re-reads its key); 0600 is not.
#[test]
fn a_key_file_others_can_read_is_warned_about_once_and_a_0600_one_is_not() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = Home::new(&api_key_config("", ""));
    let file = OciConfigFile::load(&home.config()).unwrap();
    let key = home.dir.path().join(".oci/key.pem");
    let load = || {
        let (captured, guard) = capture_tracing();
        ApiKeyProvider::from_profile(&file.profile("DEFAULT").unwrap(), &home.env(), None).unwrap();
        drop(guard);
        captured.warnings()
    };
    assert!(load().is_empty(), "0600: {:?}", load());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warnings = load();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains(&format!(
            "permissions on {} are too open (0644)",
            key.display()
        )) && warnings[0].contains("chmod 600"),
        "{}",
        warnings[0]
    );
    assert!(load().is_empty(), "warned once per file: {:?}", load());
}

#[tokio::test]
async fn key_content_in_the_file_is_refused_without_echoing_it() {
    let home = Home::new(&api_key_config(
        "",
        "key_content=-----BEGIN PRIVATE KEY-----SECRETBYTES",
    ));
    let s = AuthSettings {
        profile: Some("OTHER".into()),
        ..settings(None)
    };
    let err = build_provider(&s, &home.ctx()).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("key_content") && msg.contains("key_file"),
        "{msg}"
    );
    assert!(!format!("{msg} {err:?}").contains("SECRETBYTES"));
}

#[tokio::test]
async fn api_key_refresh_after_401_reports_whether_anything_changed() {
    let home = Home::new(&api_key_config("", ""));
    let p = build_provider(&settings(None), &home.ctx()).await.unwrap();
    assert!(
        !p.refresh_after_unauthorized().await.unwrap(),
        "nothing changed on disk"
    );
    // The user rotates the key: new key file content and new fingerprint.
    write(home.path(), ".oci/key.pem", &data("second_key_pkcs8.pem"));
    let cfg = api_key_config("", "").replace(FP, "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5");
    write(home.path(), ".oci/config", &cfg);
    assert!(p.refresh_after_unauthorized().await.unwrap());
    let creds = p.credentials().await.unwrap();
    assert_eq!(
        creds.key.fingerprint(),
        "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5"
    );
    assert!(
        creds
            .key_id
            .header_value()
            .ends_with("/26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5")
    );
}

// ------------------------------------------------------------------------------------------
// Session token
// ------------------------------------------------------------------------------------------

fn session_config(token_path: &str) -> String {
    format!(
        "[DEFAULT]\nuser={USER}\nfingerprint={FP}\ntenancy={TENANCY}\nregion=iad\nkey_file=~/.oci/key.pem\n\n\
         [SESSION]\nuser=\nfingerprint={FP}\nkey_file=~/.oci/sessions/SESSION/oci_api_key.pem\n\
         tenancy={TENANCY}\nregion=us-phoenix-1\nsecurity_token_file={token_path}\n"
    )
}

fn session_home(exp: time::OffsetDateTime) -> (Home, String) {
    let token = jwt(serde_json::json!({
        "sub": USER, "tenant": TENANCY, "exp": exp.unix_timestamp(), "ptype": "user"
    }));
    let home = Home::new(&session_config("~/.oci/sessions/SESSION/token"));
    write(
        home.path(),
        ".oci/sessions/SESSION/token",
        &format!("{token}\n"),
    );
    write(
        home.path(),
        ".oci/sessions/SESSION/oci_api_key.pem",
        &key_pem("private_key_pkcs1_pem"),
    );
    (home, token)
}

fn session_settings() -> AuthSettings {
    AuthSettings {
        profile: Some("SESSION".into()),
        ..settings(Some(AuthMethod::User))
    }
}

#[test]
fn a_profile_with_a_token_file_and_no_user_is_a_session_profile() {
    let (home, _) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    let file = OciConfigFile::load(&home.config()).unwrap();
    // `user=` (empty) in [SESSION] overrides the inherited DEFAULT user.
    assert!(is_session_profile(
        &file.profile("SESSION").unwrap(),
        &home.env()
    ));
    assert!(!is_session_profile(
        &file.profile("DEFAULT").unwrap(),
        &home.env()
    ));
}

#[test]
fn a_user_inherited_from_default_does_not_turn_a_session_profile_into_an_api_key_one() {
    // What `oci session authenticate` writes next to an API-key DEFAULT: no `user` line at all.
    let text = format!(
        "[DEFAULT]\nuser={USER}\nfingerprint={FP}\ntenancy={TENANCY}\nregion=us-ashburn-1\nkey_file=~/.oci/key.pem\n\n[SESSION]\nkey_file=~/.oci/key.pem\nsecurity_token_file=~/.oci/token\n"
    );
    let home = Home::new(&text);
    let file = OciConfigFile::load(&home.config()).unwrap();
    assert!(is_session_profile(
        &file.profile("SESSION").unwrap(),
        &home.env()
    ));
    // A profile's own `user` (or OCI_CLI_USER) keeps it an API-key profile.
    let own = text.replace("[SESSION]\n", &format!("[SESSION]\nuser={USER}\n"));
    let home = Home::new(&own);
    let file = OciConfigFile::load(&home.config()).unwrap();
    assert!(!is_session_profile(
        &file.profile("SESSION").unwrap(),
        &home.env()
    ));
}

#[tokio::test]
async fn a_session_profile_signs_with_the_token_and_the_session_key() {
    let (home, token) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    let p = build_provider(&session_settings(), &home.ctx())
        .await
        .unwrap();
    let creds = p.credentials().await.unwrap();
    assert_eq!(
        creds.key_id.header_value(),
        format!("ST${token}"),
        "the trailing newline is trimmed"
    );
    assert_eq!(creds.key, vector_key());
    let principal = p.principal();
    assert_eq!(principal.kind, PrincipalKind::SessionToken);
    assert_eq!(principal.tenancy.as_str(), TENANCY);
    assert_eq!(p.region().unwrap().id(), "us-phoenix-1");
}

#[tokio::test]
async fn an_expired_session_token_says_to_run_oci_session_refresh() {
    let (home, _) = session_home(datetime!(2025-01-14 07:59:59 UTC));
    let err = build_provider(&session_settings(), &home.ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::SessionTokenExpired { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("oci session refresh --profile SESSION"),
        "{msg}"
    );
    assert!(msg.contains("2025-01-14T07:59:59Z"), "{msg}");
    assert!(msg.contains("sessions/SESSION/token"), "{msg}");
}

#[tokio::test]
async fn the_session_token_expires_with_the_injected_clock_and_is_re_read_when_the_file_changes() {
    let (home, first) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    let clock = ManualClock::new(VECTOR_DATE);
    let ctx = AuthContext::new(home.env()).with_clock(Arc::new(clock.clone()));
    let p = build_provider(&session_settings(), &ctx).await.unwrap();
    assert_eq!(
        p.credentials().await.unwrap().key_id.header_value(),
        format!("ST${first}")
    );

    clock.advance(Duration::from_secs(3600));
    let err = p.credentials().await.unwrap_err();
    assert!(
        matches!(err, AuthError::SessionTokenExpired { .. }),
        "{err:?}"
    );

    // `oci session refresh` rewrites the token file (new content, new length).
    let second = jwt(serde_json::json!({
        "sub": USER, "tenant": TENANCY, "exp": datetime!(2025-01-14 10:00:00 UTC).unix_timestamp(),
        "jti": "refreshed-token"
    }));
    write(home.path(), ".oci/sessions/SESSION/token", &second);
    let creds = p.credentials().await.unwrap();
    assert_eq!(creds.key_id.header_value(), format!("ST${second}"));
}

#[tokio::test]
async fn after_a_401_the_session_token_is_re_read_and_retry_is_advised_only_if_it_changed() {
    let (home, _) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    let p = build_provider(&session_settings(), &home.ctx())
        .await
        .unwrap();
    assert!(!p.refresh_after_unauthorized().await.unwrap());
    let newer = jwt(serde_json::json!({
        "sub": USER, "tenant": TENANCY, "exp": datetime!(2025-01-14 09:30:00 UTC).unix_timestamp(),
        "jti": "after-401"
    }));
    write(home.path(), ".oci/sessions/SESSION/token", &newer);
    assert!(p.refresh_after_unauthorized().await.unwrap());
    match &p.credentials().await.unwrap().key_id {
        KeyId::SecurityToken(t) => assert_eq!(t.expose(), newer),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_session_token_file_that_is_not_a_jwt_is_a_clear_error() {
    let (home, _) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    write(home.path(), ".oci/sessions/SESSION/token", "not-a-token");
    let err = build_provider(&session_settings(), &home.ctx())
        .await
        .unwrap_err();
    let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        msg.contains("sessions/SESSION/token") && msg.contains("not a JWT"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_malformed_or_mistyped_ocid_in_the_profile_is_a_configuration_error_naming_it() {
    // A compartment OCID where the tenancy belongs, and a user that is not an OCID at all.
    let text = api_key_config("", "")
        .replace(TENANCY, "ocid1.compartment.oc1..aaaaaaaawrongtype")
        .replace(USER, "jane@example.com");
    let home = Home::new(&text);
    let err = build_provider(&settings(None), &home.ctx())
        .await
        .unwrap_err();
    let shown = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(matches!(err, AuthError::InvalidOcid { .. }), "{err:?}");
    assert!(shown.contains("tenancy"), "{shown}");
    assert!(shown.contains("[DEFAULT]"), "{shown}");
    assert!(
        shown.contains("expected a tenancy OCID (ocid1.tenancy.…), got a compartment OCID"),
        "{shown}"
    );
    assert!(err.is_configuration_problem());
    assert_eq!(
        fleetctl_core::Error::from(err).class(),
        fleetctl_core::ErrorClass::Configuration
    );
}

#[tokio::test]
async fn empty_oci_region_and_oci_cli_region_count_as_unset() {
    let home = Home::new(&api_key_config("", ""));
    for var in ["OCI_REGION", "OCI_CLI_REGION"] {
        let ctx = AuthContext::new(home.env().with(var, ""));
        let p = build_provider(&settings(None), &ctx)
            .await
            .unwrap_or_else(|e| panic!("{var}=: {e}"));
        assert_eq!(p.region().unwrap().id(), "us-ashburn-1", "{var}=");
    }
}

#[tokio::test]
async fn a_new_session_key_written_with_the_token_is_used_at_once() {
    // `oci session authenticate` writes a new key and a new token together: the next request
    // must be signed with both, not with the new token and the old key (which OCI refuses).
    let (home, _) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    let p = build_provider(&session_settings(), &home.ctx())
        .await
        .unwrap();
    assert_eq!(p.credentials().await.unwrap().key, vector_key());
    let newer = jwt(serde_json::json!({
        "sub": USER, "tenant": TENANCY, "exp": datetime!(2025-01-14 10:00:00 UTC).unix_timestamp(),
        "jti": "re-authenticated"
    }));
    write(
        home.path(),
        ".oci/sessions/SESSION/oci_api_key.pem",
        &data("second_key_pkcs8.pem"),
    );
    write(home.path(), ".oci/sessions/SESSION/token", &newer);
    let creds = p.credentials().await.unwrap();
    assert_eq!(creds.key_id.header_value(), format!("ST${newer}"));
    let second =
        fleetctl_core::oci::keys::SigningKey::from_pem(&data("second_key_pkcs8.pem"), None)
            .unwrap();
    assert_eq!(
        creds.key, second,
        "the new session key is read with the token"
    );
}

#[tokio::test]
async fn a_session_key_rewritten_after_the_token_is_picked_up_too() {
    // The CLI may write the token first and the key a moment later.
    let (home, _) = session_home(datetime!(2025-01-14 09:00:00 UTC));
    let p = build_provider(&session_settings(), &home.ctx())
        .await
        .unwrap();
    p.credentials().await.unwrap();
    write(
        home.path(),
        ".oci/sessions/SESSION/oci_api_key.pem",
        &data("second_key_pkcs8.pem"),
    );
    let second =
        fleetctl_core::oci::keys::SigningKey::from_pem(&data("second_key_pkcs8.pem"), None)
            .unwrap();
    assert_eq!(p.credentials().await.unwrap().key, second);
}
