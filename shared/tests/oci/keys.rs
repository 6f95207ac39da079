//! Private key loading: every PEM form OCI users have, the fingerprint, and clear errors that
//! never contain key bytes or the passphrase.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use fleetctl_core::oci::keys::{KeyError, Passphrase, SigningKey, fingerprint_of_spki_der};
use oci_support::*;

fn pass() -> Passphrase {
    Passphrase::new(PASSPHRASE)
}

/// Every form of the vector key loads to the same key with the published fingerprint.
#[test]
fn all_four_vector_encodings_load_to_the_same_key() {
    let expected_fp = vectors_file()["fingerprint_md5_colon_hex"]
        .as_str()
        .unwrap()
        .to_string();
    let forms = [
        ("private_key_pkcs1_pem", None),
        ("private_key_pkcs8_pem", None),
        ("private_key_pkcs1_encrypted_pem", Some(pass())),
        ("private_key_pkcs8_encrypted_pem", Some(pass())),
    ];
    for (form, pp) in forms {
        let key = SigningKey::from_pem(&key_pem(form), pp.as_ref())
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(key.fingerprint(), expected_fp, "{form}");
        assert_eq!(key.modulus_bits(), 2048, "{form}");
    }
}

#[test]
fn legacy_aes_128_and_192_encrypted_keys_load() {
    let expected = vector_key();
    for file in ["key_pkcs1_aes128.pem", "key_pkcs1_aes192.pem"] {
        let key = SigningKey::from_pem(&data(file), Some(&pass()))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key, expected, "{file}");
    }
}

#[test]
fn public_key_der_matches_the_vector_public_key() {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(vectors_file()["public_key_der_b64"].as_str().unwrap())
        .unwrap();
    let key = vector_key();
    assert_eq!(key.public_key_der(), der.as_slice());
    assert_eq!(
        key.public_key_pem(),
        vectors_file()["public_key_pem"].as_str().unwrap()
    );
    assert_eq!(fingerprint_of_spki_der(&der), fixed("fingerprint"));
}

#[test]
fn second_key_fingerprint_matches_openssl() {
    // From `openssl rsa -pubout -outform DER | openssl md5 -c` (see tests/data/oci/README.md).
    let key = SigningKey::from_pem(&data("second_key_pkcs8.pem"), None).unwrap();
    assert_eq!(
        key.fingerprint(),
        "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5"
    );
}

#[test]
fn a_passphrase_given_for_an_unencrypted_key_is_ignored() {
    let key = SigningKey::from_pem(
        &key_pem("private_key_pkcs8_pem"),
        Some(&Passphrase::new("inherited")),
    )
    .unwrap();
    assert_eq!(key, vector_key());
}

#[test]
fn encrypted_keys_without_a_passphrase_say_so() {
    for form in [
        "private_key_pkcs1_encrypted_pem",
        "private_key_pkcs8_encrypted_pem",
    ] {
        let err = SigningKey::from_pem(&key_pem(form), None).unwrap_err();
        assert!(
            matches!(err, KeyError::PassphraseRequired),
            "{form}: {err:?}"
        );
        assert!(
            err.to_string().contains("encrypted and no passphrase"),
            "{err}"
        );
    }
}

#[test]
fn a_wrong_passphrase_is_reported_without_echoing_it() {
    let wrong = Passphrase::new("not-the-passphrase-xyz");
    for pem in [
        key_pem("private_key_pkcs1_encrypted_pem"),
        key_pem("private_key_pkcs8_encrypted_pem"),
        data("key_pkcs1_aes128.pem"),
        data("key_pkcs1_aes192.pem"),
    ] {
        let err = SigningKey::from_pem(&pem, Some(&wrong)).unwrap_err();
        assert!(matches!(err, KeyError::WrongPassphrase), "{err:?}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("not-the-passphrase-xyz"), "{text}");
    }
}

#[test]
fn des_encrypted_legacy_keys_get_a_conversion_hint() {
    let err = SigningKey::from_pem(&data("key_pkcs1_des3.pem"), Some(&pass())).unwrap_err();
    assert!(matches!(err, KeyError::UnsupportedCipher { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("DES-EDE3-CBC"), "{msg}");
    assert!(msg.contains("openssl pkcs8 -topk8"), "{msg}");
}

#[test]
fn a_public_key_or_certificate_given_as_private_key_is_named() {
    let err =
        SigningKey::from_pem(vectors_file()["public_key_pem"].as_str().unwrap(), None).unwrap_err();
    assert!(
        matches!(err, KeyError::PublicKeyGiven { what: "public key" }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a private key"));
    let cert = data("leaf_other_tenancy_cert.pem");
    let err = SigningKey::from_pem(&cert, None).unwrap_err();
    assert!(
        matches!(
            err,
            KeyError::PublicKeyGiven {
                what: "certificate"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_non_rsa_key_is_refused_by_algorithm() {
    let err = SigningKey::from_pem(&data("ec_key_pkcs8.pem"), None).unwrap_err();
    assert!(matches!(err, KeyError::NotRsa { .. }), "{err:?}");
    assert!(err.to_string().contains("EC (elliptic curve)"), "{err}");
}

#[test]
fn garbage_and_truncated_input_give_clear_errors_without_key_bytes() {
    assert!(matches!(
        SigningKey::from_pem("hello", None),
        Err(KeyError::NotPem)
    ));
    let pkcs1 = key_pem("private_key_pkcs1_pem");
    // Cut the key in half: the END line is gone.
    let truncated = &pkcs1[..pkcs1.len() / 2];
    let err = SigningKey::from_pem(truncated, None).unwrap_err();
    assert!(matches!(err, KeyError::UnterminatedPem { .. }), "{err:?}");
    // Corrupt the body but keep valid base64: DER parsing fails.
    let body_line = pkcs1.lines().nth(3).unwrap().to_string();
    let corrupted = pkcs1.replace(&body_line, &"A".repeat(body_line.len()));
    let err = SigningKey::from_pem(&corrupted, None).unwrap_err();
    assert!(matches!(err, KeyError::Malformed { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(&body_line[..20]), "{text}");
}

#[test]
fn an_openssh_key_gets_a_conversion_hint() {
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    let err = SigningKey::from_pem(pem, None).unwrap_err();
    assert!(matches!(err, KeyError::OpenSshFormat));
    assert!(err.to_string().contains("ssh-keygen"));
}

#[test]
fn a_key_file_with_a_certificate_before_the_key_uses_the_key() {
    let combined = format!(
        "{}{}",
        data("leaf_other_tenancy_cert.pem"),
        key_pem("private_key_pkcs1_pem")
    );
    assert_eq!(SigningKey::from_pem(&combined, None).unwrap(), vector_key());
}

#[test]
fn generated_session_keys_are_fresh_rsa_2048_keys_that_sign_verifiably() {
    let a = SigningKey::generate_rsa_2048().unwrap();
    let b = SigningKey::generate_rsa_2048().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.modulus_bits(), 2048);
    use base64::Engine as _;
    let sig = a.sign_sha256(b"hello").unwrap();
    let sig_b64 = base64::engine::general_purpose::STANDARD.encode(sig);
    assert!(verify(a.public_key_der(), b"hello", &sig_b64));
    assert!(!verify(b.public_key_der(), b"hello", &sig_b64));
}

#[test]
fn debug_of_keys_and_passphrases_shows_no_secret() {
    let key = vector_key();
    let shown = format!("{key:?}");
    assert!(shown.contains(&fixed("fingerprint")), "{shown}");
    let pem = key_pem("private_key_pkcs8_pem");
    let body_line = pem.lines().nth(2).unwrap();
    assert!(!shown.contains(body_line), "{shown}");
    let p = format!("{:?}", Passphrase::new("se;cr#et"));
    assert!(!p.contains("se;cr#et"), "{p}");
}

#[test]
fn a_key_below_2048_bits_is_refused_with_its_size() {
    let err = SigningKey::from_pem(&data("small_key_1024.pem"), None).unwrap_err();
    assert!(
        matches!(err, KeyError::UnsupportedKeySize { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("smaller than 2048 bits"), "{err}");
}
