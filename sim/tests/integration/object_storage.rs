//! Object Storage (native API) as a client sees it: namespace, buckets, objects with opaque
//! etags, conditional writes (including racing writers), ranges, odd names and listings.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::common::{TestSim, assert_oci_error, json};

fn obj(t: &TestSim, name: &str) -> String {
    format!("/n/{}/b/{}/o/{name}", t.sim.namespace(), t.sim.bucket())
}

fn list(t: &TestSim, query: &str) -> String {
    format!("/n/{}/b/{}/o{query}", t.sim.namespace(), t.sim.bucket())
}

async fn put(t: &TestSim, name: &str, body: &[u8], extra: &[(&str, &str)]) -> reqwest::Response {
    t.put_raw(&obj(t, name), body, extra).await
}

fn etag(resp: &reqwest::Response) -> String {
    resp.headers()["etag"].to_str().unwrap().to_string()
}

async fn get(t: &TestSim, path: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    t.oci_with("GET", path, None, extra).await.unwrap()
}

#[tokio::test]
async fn the_namespace_is_a_bare_json_string_at_n_and_n_slash() {
    let t = TestSim::start().await;
    for path in ["/n", "/n/"] {
        let resp = t.oci("GET", path, None).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.text().await.unwrap(), "\"simnamespace\"");
    }
}

#[tokio::test]
async fn objects_round_trip_with_metadata_and_a_new_etag_per_write() {
    let t = TestSim::start().await;
    let resp = put(
        &t,
        "state.json",
        b"{\"v\":1}",
        &[
            ("content-type", "application/json"),
            ("opc-meta-owner", "fleetctl"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let e1 = etag(&resp);
    assert_eq!(e1.len(), 36, "a UUID: {e1}");
    assert!(resp.headers().get("opc-content-md5").is_some());
    assert!(resp.headers().get("last-modified").is_some());

    let resp = get(&t, &obj(&t, "state.json"), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(etag(&resp), e1);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["opc-meta-owner"], "fleetctl");
    assert_eq!(resp.headers()["content-length"], "7");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"{\"v\":1}");

    let resp = put(&t, "state.json", b"{\"v\":2}", &[]).await;
    let e2 = etag(&resp);
    assert_ne!(e1, e2, "every write makes a new etag");

    let resp = t
        .oci_with("HEAD", &obj(&t, "state.json"), None, &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(etag(&resp), e2);
    assert_eq!(resp.headers()["content-length"], "7");
    assert!(resp.bytes().await.unwrap().is_empty());

    let resp = t.oci("DELETE", &obj(&t, "state.json"), None).await;
    assert_eq!(resp.status(), 204);
    assert_oci_error(
        get(&t, &obj(&t, "state.json"), &[]).await,
        404,
        "ObjectNotFound",
    )
    .await;
    assert_oci_error(
        t.oci("DELETE", &obj(&t, "state.json"), None).await,
        404,
        "ObjectNotFound",
    )
    .await;
    let resp = t
        .oci_with("HEAD", &obj(&t, "state.json"), None, &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn conditional_writes_follow_the_native_api() {
    let t = TestSim::start().await;
    let created = put(&t, "lease", b"a", &[("if-none-match", "*")]).await;
    assert_eq!(created.status(), 200);
    let e1 = etag(&created);
    let again = put(&t, "lease", b"b", &[("if-none-match", "*")]).await;
    assert_oci_error(again, 412, "IfNoneMatchFailed").await;

    let stale = put(&t, "lease", b"c", &[("if-match", "not-the-etag")]).await;
    assert_oci_error(stale, 412, "IfMatchFailed").await;
    // The etag is compared as one exact string, as Object Storage does: quoted, weak or
    // listed forms of the right etag do not match.
    for altered in [
        format!("\"{e1}\""),
        format!("W/{e1}"),
        format!("W/\"{e1}\""),
        format!("x, {e1}"),
        e1.to_ascii_uppercase(),
        "*".to_string(),
    ] {
        let resp = put(&t, "lease", b"c", &[("if-match", &altered)]).await;
        assert_oci_error(resp, 412, "IfMatchFailed").await;
        if altered != "*" {
            // (`*` in a GET's if-none-match is a 400, not a comparison.)
            let resp = get(&t, &obj(&t, "lease"), &[("if-none-match", &altered)]).await;
            assert_eq!(resp.status(), 200, "if-none-match: {altered}");
        }
    }
    let ok = put(&t, "lease", b"d", &[("if-match", &e1)]).await;
    assert_eq!(ok.status(), 200);
    let e2 = etag(&ok);
    let body = get(&t, &obj(&t, "lease"), &[]).await.bytes().await.unwrap();
    assert_eq!(body.as_ref(), b"d", "the refused writes changed nothing");

    // if-match on an object that does not exist fails too.
    let resp = put(&t, "absent", b"x", &[("if-match", &e2)]).await;
    assert_oci_error(resp, 412, "IfMatchFailed").await;
    // if-none-match on PUT accepts only '*'.
    let resp = put(&t, "lease", b"x", &[("if-none-match", &e2)]).await;
    assert_oci_error(resp, 400, "InvalidParameter").await;

    // GET/HEAD: if-none-match with the current etag is 304; if-match stale is 412.
    let resp = get(&t, &obj(&t, "lease"), &[("if-none-match", &e2)]).await;
    assert_eq!(resp.status(), 304);
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = get(&t, &obj(&t, "lease"), &[("if-none-match", &e1)]).await;
    assert_eq!(resp.status(), 200);
    let resp = get(&t, &obj(&t, "lease"), &[("if-match", &e1)]).await;
    assert_oci_error(resp, 412, "IfMatchFailed").await;
    let resp = t
        .oci_with("HEAD", &obj(&t, "lease"), None, &[("if-none-match", &e2)])
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    // DELETE with a stale etag keeps the object.
    let resp = t
        .oci_with("DELETE", &obj(&t, "lease"), None, &[("if-match", &e1)])
        .await
        .unwrap();
    assert_oci_error(resp, 412, "IfMatchFailed").await;
    let resp = t
        .oci_with("DELETE", &obj(&t, "lease"), None, &[("if-match", &e2)])
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

#[tokio::test]
async fn content_md5_is_checked() {
    let t = TestSim::start().await;
    // base64(md5("hello")) = XUFAKrxLKna5cZ2REBfFkg==
    let resp = put(
        &t,
        "m",
        b"hello",
        &[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["opc-content-md5"],
        "XUFAKrxLKna5cZ2REBfFkg=="
    );
    let resp = put(
        &t,
        "m",
        b"hellO",
        &[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")],
    )
    .await;
    let msg = assert_oci_error(resp, 400, "UnmatchedContentMD5").await;
    assert!(msg.contains("XUFAKrxLKna5cZ2REBfFkg=="));
    assert_eq!(
        get(&t, &obj(&t, "m"), &[])
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"hello"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_create_only_writers_produce_exactly_one_winner() {
    let t = Arc::new(TestSim::start().await);
    let mut tasks = Vec::new();
    for n in 0..16 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("writer-{n}");
            put(&t, "race", body.as_bytes(), &[("if-none-match", "*")])
                .await
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        15,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_compare_and_swap_writers_produce_exactly_one_winner() {
    let t = Arc::new(TestSim::start().await);
    let base = etag(&put(&t, "cas", b"v0", &[]).await);
    let mut tasks = Vec::new();
    for n in 0..16 {
        let t = t.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("v1-{n}");
            let resp = put(&t, "cas", body.as_bytes(), &[("if-match", &base)]).await;
            (resp.status().as_u16(), body)
        }));
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    for task in tasks {
        match task.await.unwrap() {
            (200, body) => winners.push(body),
            (412, _) => losers += 1,
            (other, _) => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(losers, 15);
    let stored = get(&t, &obj(&t, "cas"), &[]).await.text().await.unwrap();
    assert_eq!(stored, winners[0], "the winner's body is what is stored");
}

#[tokio::test]
async fn object_names_are_percent_decoded_once() {
    let t = TestSim::start().await;
    // `%2F` and `/` are the same separator; a space and UTF-8 arrive encoded.
    let resp = put(
        &t,
        "fleets%2Fweb/state%20file-%C3%A9t%C3%A9.json",
        b"x",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = get(
        &t,
        &obj(&t, "fleets/web%2Fstate%20file-%C3%A9t%C3%A9.json"),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    // `%25` decodes to a literal percent sign, once.
    assert_eq!(put(&t, "100%25", b"p", &[]).await.status(), 200);
    let listed = json(t.oci("GET", &list(&t, ""), None).await).await;
    let names: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["100%", "fleets/web/state file-été.json"]);
}

#[tokio::test]
async fn a_single_range_gets_206_and_an_impossible_one_416() {
    let t = TestSim::start().await;
    put(&t, "r", b"0123456789", &[]).await;
    let resp = get(&t, &obj(&t, "r"), &[("range", "bytes=2-5")]).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 2-5/10");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"2345");
    let resp = get(&t, &obj(&t, "r"), &[("range", "bytes=-3")]).await;
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"789");
    let resp = get(&t, &obj(&t, "r"), &[("range", "bytes=20-")]).await;
    assert_oci_error(resp, 416, "InvalidRange").await;
}

async fn names_of(t: &TestSim, query: &str) -> Value {
    let resp = t.oci("GET", &list(t, query), None).await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

fn object_names(v: &Value) -> Vec<String> {
    v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_objects_pages_filters_and_groups_by_prefix() {
    let t = TestSim::start().await;
    for name in ["a/1", "a/2", "a/3", "b/1", "c", "d", "e"] {
        put(&t, name, name.as_bytes(), &[]).await;
    }
    // Paging with nextStartWith fed back as start.
    let mut all = Vec::new();
    let mut start: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &start {
            Some(s) => format!("?limit=3&start={}", s.replace('/', "%2F")),
            None => "?limit=3".to_string(),
        };
        let page = names_of(&t, &q).await;
        all.extend(object_names(&page));
        pages += 1;
        match page["nextStartWith"].as_str() {
            Some(s) => start = Some(s.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all, ["a/1", "a/2", "a/3", "b/1", "c", "d", "e"]);

    // Delimiter: "a/" and "b/" become prefixes.
    let grouped = names_of(&t, "?delimiter=%2F").await;
    assert_eq!(object_names(&grouped), ["c", "d", "e"]);
    assert_eq!(grouped["prefixes"], json!(["a/", "b/"]));
    let inside = names_of(&t, "?prefix=a%2F&delimiter=%2F").await;
    assert_eq!(object_names(&inside), ["a/1", "a/2", "a/3"]);
    // A page that ends on a prefix continues after all of its names.
    let first = names_of(&t, "?delimiter=%2F&limit=1").await;
    assert_eq!(first["prefixes"], json!(["a/"]));
    assert_eq!(first["nextStartWith"], "b/1");

    // start (>=) and end (<).
    let window = names_of(&t, "?start=b&end=d").await;
    assert_eq!(object_names(&window), ["b/1", "c"]);

    // fields projection: name only by default, more on request (case-insensitive).
    let plain = names_of(&t, "?prefix=c").await;
    assert_eq!(plain["objects"][0], json!({"name": "c"}));
    let rich = names_of(&t, "?prefix=c&fields=name,size,ETAG,md5,timeCreated").await;
    let o = &rich["objects"][0];
    assert_eq!(o["size"], 1);
    assert!(o["etag"].is_string() && o["md5"].is_string() && o["timeCreated"].is_string());
    assert!(o.get("timeModified").is_none());

    let resp = t.oci("GET", &list(&t, "?fields=owner"), None).await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
    let resp = t.oci("GET", &list(&t, "?delimiter=-"), None).await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
    let resp = t.oci("GET", &list(&t, "?limit=1001"), None).await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
}

#[tokio::test]
async fn buckets_are_created_read_and_missing_ones_are_bucket_not_found() {
    let t = TestSim::start().await;
    let ns = t.sim.namespace().to_string();
    let resp = t
        .oci(
            "POST",
            &format!("/n/{ns}/b"),
            Some(json!({"name": "more-state", "compartmentId": t.sim.compartment_id()})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let created = json(resp).await;
    assert_eq!(created["name"], "more-state");
    assert_eq!(created["namespace"], ns.as_str());
    let resp = t
        .oci(
            "POST",
            &format!("/n/{ns}/b"),
            Some(json!({"name": "more-state", "compartmentId": t.sim.compartment_id()})),
        )
        .await;
    assert_oci_error(resp, 409, "BucketAlreadyExists").await;
    let resp = t.oci("GET", &format!("/n/{ns}/b/more-state"), None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("etag").is_some());
    let resp = t
        .oci_with("HEAD", &format!("/n/{ns}/b/more-state"), None, &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    assert_oci_error(
        t.oci("GET", &format!("/n/{ns}/b/nope"), None).await,
        404,
        "BucketNotFound",
    )
    .await;
    assert_oci_error(
        t.put_raw(&format!("/n/{ns}/b/nope/o/x"), b"x", &[]).await,
        404,
        "BucketNotFound",
    )
    .await;
    assert_oci_error(
        t.oci("GET", "/n/othernamespace/b/more-state", None).await,
        404,
        "NamespaceNotFound",
    )
    .await;
    let resp = t
        .oci(
            "POST",
            &format!("/n/{ns}/b"),
            Some(json!({"compartmentId": t.sim.compartment_id()})),
        )
        .await;
    assert_oci_error(resp, 400, "MissingParameter").await;
}

#[tokio::test]
async fn puts_signed_with_the_body_headers_are_accepted_too() {
    let t = TestSim::start().await;
    let resp = t
        .signed(
            t.signer(),
            "PUT",
            &obj(&t, "signed-body"),
            Some("{\"a\":1}"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // ...and a signed body that was changed in flight is refused.
    let mut req = t.signer().sign(
        "PUT",
        &obj(&t, "signed-body"),
        &t.host(),
        Some(b"{\"a\":1}"),
        &httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    req.body = Some(b"{\"a\":2}".to_vec());
    let resp = t.send(&req, &obj(&t, "signed-body")).await.unwrap();
    assert_oci_error(resp, 401, "NotAuthenticated").await;
}

#[tokio::test]
async fn expect_100_continue_is_honoured() {
    let t = TestSim::start().await;
    let path = obj(&t, "continued");
    let body = b"streamed body";
    let mut req = t.signer().sign_with(
        "PUT",
        &path,
        &t.host(),
        Some(body),
        &httpdate::fmt_http_date(std::time::SystemTime::now()),
        Some(&["date", "(request-target)", "host"]),
    );
    req.set_header("expect", "100-continue");
    req.set_header("content-type", "application/octet-stream");
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(t.sim.local_addr())
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server answers 100 Continue before the body")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    stream.write_all(body).await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("200 OK"), "{text}");
    let stored = get(&t, &path, &[]).await.bytes().await.unwrap();
    assert_eq!(stored.as_ref(), body);
}
