#!/usr/bin/env python3
"""Fidelity check of oci-sim against Oracle's official Python SDK (the `oci` package).

Given the simulator's config file, base URL and resource-principal env file, this drives real
SDK clients and signers against the simulator:

* API key (DEFAULT profile): get_user, get_tenancy, list_regions, list_region_subscriptions,
  list_availability_domains, get_compartment, update_user (a signed PUT body);
* session token (SESSION profile) through oci.auth.signers.SecurityTokenSigner, plus the
  refresh call;
* resource principal v2.2 through oci.auth.signers.get_resource_principals_signer();
* instance principal through InstancePrincipalsSecurityTokenSigner (IMDS + /v1/x509);
* negative cases: a tampered signature, a tampered body (x-content-sha256 mismatch), a missing
  required query parameter; each must be refused with OCI's error body.

It prints one JSON summary on stdout and exits non-zero when any check fails.
"""

import argparse
import json
import os
import sys
import traceback

import oci
import requests


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def load_env_file(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                env[key] = value
    return env


def expect_oci_error(resp, status, code):
    """The response must be `status` with an OCI `{"code","message"}` body and opc-request-id."""
    expect(resp.status_code == status, f"expected HTTP {status}, got {resp.status_code}: {resp.text[:300]}")
    body = resp.json()
    expect(body.get("code") == code, f"expected code {code}, got {body!r}")
    expect(isinstance(body.get("message"), str) and body["message"], f"no message in {body!r}")
    expect(resp.headers.get("opc-request-id"), "no opc-request-id header on the error response")
    return {"status": resp.status_code, "code": body["code"], "message": body["message"]}


def tamper_signature(prepared):
    auth = prepared.headers["authorization"]
    marker = 'signature="'
    i = auth.index(marker) + len(marker)
    first = auth[i]
    replacement = "B" if first != "B" else "C"
    prepared.headers["authorization"] = auth[:i] + replacement + auth[i + 1:]
    expect(prepared.headers["authorization"] != auth, "tampering did not change the header")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the simulator's OCI config file")
    ap.add_argument("--endpoint", required=True, help="the simulator's base URL")
    ap.add_argument("--rp-env", required=True, help="the simulator's rp/env file")
    args = ap.parse_args()
    url = args.endpoint.rstrip("/")

    checks = []

    def check(name, fn):
        try:
            detail = fn()
            checks.append({"name": name, "ok": True, "detail": detail})
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            checks.append({
                "name": name,
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc(limit=3),
            })

    config = oci.config.from_file(args.config, "DEFAULT")
    oci.config.validate_config(config)
    identity = oci.identity.IdentityClient(config, service_endpoint=url)
    signer = oci.signer.Signer(
        tenancy=config["tenancy"],
        user=config["user"],
        fingerprint=config["fingerprint"],
        private_key_file_location=config["key_file"],
    )
    user_id = config["user"]
    tenancy_id = config["tenancy"]

    def get_user():
        r = identity.get_user(user_id)
        expect(isinstance(r.data, oci.identity.models.User), f"not a User: {type(r.data)}")
        expect(r.data.id == user_id, f"wrong user {r.data.id}")
        expect(r.data.lifecycle_state == "ACTIVE", f"state {r.data.lifecycle_state}")
        expect(r.data.compartment_id == tenancy_id, "user's compartmentId is not the tenancy")
        expect(r.data.time_created is not None, "timeCreated did not parse")
        expect(r.headers.get("etag"), "no etag header")
        expect(r.request_id, "no opc-request-id")
        return {"name": r.data.name, "etag": r.headers.get("etag")}

    def get_tenancy():
        r = identity.get_tenancy(tenancy_id)
        expect(isinstance(r.data, oci.identity.models.Tenancy), f"not a Tenancy: {type(r.data)}")
        expect(r.data.id == tenancy_id, "wrong tenancy")
        expect(r.data.home_region_key == "IAD", f"home region {r.data.home_region_key}")
        return {"name": r.data.name}

    def list_regions():
        r = identity.list_regions()
        expect(all(isinstance(x, oci.identity.models.Region) for x in r.data), "not Regions")
        names = [x.name for x in r.data]
        expect("us-ashburn-1" in names, f"us-ashburn-1 missing from {names}")
        return {"count": len(names)}

    def list_region_subscriptions():
        r = identity.list_region_subscriptions(tenancy_id)
        expect(all(isinstance(x, oci.identity.models.RegionSubscription) for x in r.data), "not RegionSubscriptions")
        homes = [x.region_name for x in r.data if x.is_home_region]
        expect(homes == ["us-ashburn-1"], f"home regions {homes}")
        expect(all(x.status == "READY" for x in r.data), "a subscription is not READY")
        return {"regions": [x.region_name for x in r.data]}

    def list_availability_domains():
        r = identity.list_availability_domains(tenancy_id)
        expect(all(isinstance(x, oci.identity.models.AvailabilityDomain) for x in r.data), "not ADs")
        names = [x.name for x in r.data]
        expect(len(names) >= 1 and all(n.startswith("Uocm:US-ASHBURN-AD-") for n in names), f"AD names {names}")
        return {"names": names}

    def compartments():
        first = identity.list_compartments(tenancy_id, limit=1)
        expect(len(first.data) == 1 and first.has_next_page, "limit=1 did not give a first page with opc-next-page")
        listed = oci.pagination.list_call_get_all_results(
            identity.list_compartments, tenancy_id, limit=1).data
        names = sorted(x.name for x in listed)
        expect(names == ["fleet-demo", "sandbox"], f"paging over compartments gave {names}")
        c = identity.get_compartment(listed[0].id)
        expect(isinstance(c.data, oci.identity.models.Compartment), "not a Compartment")
        expect(c.data.compartment_id == tenancy_id, "compartment's parent is not the tenancy")
        return {"names": names}

    def update_user():
        details = oci.identity.models.UpdateUserDetails(description="updated by the SDK fidelity check")
        r = identity.update_user(user_id, details)
        expect(r.data.description == "updated by the SDK fidelity check", "description not updated")
        again = identity.get_user(user_id)
        expect(again.data.description == "updated by the SDK fidelity check", "update not persisted")
        return {"etag": r.headers.get("etag")}

    def missing_compartment_parameter():
        resp = requests.get(url + "/20160918/availabilityDomains", auth=signer)
        return expect_oci_error(resp, 400, "MissingParameter")

    def tampered_signature():
        session = requests.Session()
        good = requests.Request("GET", f"{url}/20160918/users/{user_id}", auth=signer).prepare()
        expect(session.send(good).status_code == 200, "the untampered control request was not accepted")
        bad = requests.Request("GET", f"{url}/20160918/users/{user_id}", auth=signer).prepare()
        tamper_signature(bad)
        return expect_oci_error(session.send(bad), 401, "NotAuthenticated")

    def tampered_body():
        session = requests.Session()
        body = {"description": "tamper-check-a"}
        good = requests.Request("PUT", f"{url}/20160918/users/{user_id}", json=body, auth=signer).prepare()
        expect(session.send(good).status_code == 200, "the untampered control PUT was not accepted")
        bad = requests.Request("PUT", f"{url}/20160918/users/{user_id}", json=body, auth=signer).prepare()
        original = bad.body
        bad.body = original.replace(b"tamper-check-a", b"tamper-check-b")
        expect(bad.body != original and len(bad.body) == len(original), "body tamper failed")
        result = expect_oci_error(session.send(bad), 401, "NotAuthenticated")
        expect("x-content-sha256" in result["message"], f"message does not name the body hash: {result['message']}")
        after = identity.get_user(user_id).data.description
        expect(after == "tamper-check-a", f"the tampered body changed the user: {after!r}")
        return result

    def session_token():
        scfg = oci.config.from_file(args.config, "SESSION")
        with open(scfg["security_token_file"]) as f:
            token = f.read()
        key = oci.signer.load_private_key_from_file(scfg["key_file"])
        st_signer = oci.auth.signers.SecurityTokenSigner(token, key)
        client = oci.identity.IdentityClient({"region": scfg["region"]}, signer=st_signer, service_endpoint=url)
        t = client.get_tenancy(scfg["tenancy"])
        expect(t.data.id == tenancy_id, "session token sees another tenancy")
        ads = client.list_availability_domains(scfg["tenancy"])
        expect(len(ads.data) >= 1, "no ADs through the session token")
        # Refresh: POST /v1/authentication/refresh signed with the current token.
        resp = requests.post(url + "/v1/authentication/refresh", json={"currentToken": token}, auth=st_signer)
        expect(resp.status_code == 200, f"refresh answered {resp.status_code}: {resp.text[:300]}")
        new_token = resp.json()["token"]
        expect(new_token and new_token != token, "refresh returned the same token")
        refreshed = oci.auth.signers.SecurityTokenSigner(new_token, key)
        client2 = oci.identity.IdentityClient({"region": scfg["region"]}, signer=refreshed, service_endpoint=url)
        expect(client2.get_tenancy(scfg["tenancy"]).data.id == tenancy_id, "refreshed token rejected")
        return {"refreshed": True}

    def resource_principal():
        env = load_env_file(args.rp_env)
        expect(env.get("OCI_RESOURCE_PRINCIPAL_VERSION") == "2.2", f"version {env.get('OCI_RESOURCE_PRINCIPAL_VERSION')}")
        for k in ("OCI_RESOURCE_PRINCIPAL_RPST", "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"):
            expect(os.path.isabs(env.get(k, "")), f"{k} is not an absolute path")
        os.environ.update(env)
        rp = oci.auth.signers.get_resource_principals_signer()
        expect(rp.tenancy_id == tenancy_id, f"res_tenant {rp.tenancy_id} is not the tenancy")
        expect(rp.compartment_id, "no res_compartment claim")
        client = oci.identity.IdentityClient({"region": rp.region}, signer=rp, service_endpoint=url)
        expect(client.get_tenancy(rp.tenancy_id).data.id == tenancy_id, "RP get_tenancy")
        ads = client.list_availability_domains(rp.compartment_id)
        expect(len(ads.data) >= 1, "no ADs through the resource principal")
        return {"region": rp.region, "compartment": rp.compartment_id}

    def instance_principal():
        os.environ["OCI_METADATA_BASE_URL"] = url + "/opc/v2"
        ip = oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
            federation_endpoint=url + "/v1/x509")
        expect(ip.tenancy_id == tenancy_id, f"tenancy from the certificate {ip.tenancy_id}")
        client = oci.identity.IdentityClient({"region": ip.region}, signer=ip, service_endpoint=url)
        expect(client.get_tenancy(ip.tenancy_id).data.id == tenancy_id, "IP get_tenancy")
        return {"region": ip.region}

    check("api_key.get_user", get_user)
    check("api_key.get_tenancy", get_tenancy)
    check("api_key.list_regions", list_regions)
    check("api_key.list_region_subscriptions", list_region_subscriptions)
    check("api_key.list_availability_domains", list_availability_domains)
    check("api_key.compartments_paged", compartments)
    check("api_key.update_user", update_user)
    check("refused.missing_compartment_parameter", missing_compartment_parameter)
    check("refused.tampered_signature", tampered_signature)
    check("refused.tampered_body", tampered_body)
    check("session_token", session_token)
    check("resource_principal", resource_principal)
    check("instance_principal", instance_principal)

    failed = [c for c in checks if not c["ok"]]
    summary = {
        "ok": not failed,
        "sdk_version": oci.__version__,
        "passed": len(checks) - len(failed),
        "failed": len(failed),
        "checks": checks,
    }
    print(json.dumps(summary, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
