#!/usr/bin/env python3
"""Fidelity check of oci-sim's cloud services against Oracle's official Python SDK (`oci`).

Given the simulator's config file and base URL, this drives the SDK's own clients
(ComputeClient, VirtualNetworkClient, LoadBalancerClient, NetworkLoadBalancerClient,
ObjectStorageClient, all with service_endpoint=<simulator>) through every operation fleetctl
relies on, and checks that the SDK's models parse each answer (fields present and typed):

* compute: launch (and its retry token), get, list with paging, instance actions, terminate;
* networking: list_vnic_attachments, get_vnic_attachment, get_vnic, get_subnet;
* classic LB: get LB / backend set, create / update / delete backend with their work
  requests waited on with oci.wait_until, a duplicate that FAILS its work request, health,
  paged work-request listing;
* NLB: the same backend cycle, the 409 for a concurrent mutation, health;
* Object Storage: namespace, buckets, put with if_none_match='*' and if_match, 412 on a stale
  etag, get / head / list (paged) / delete.

The simulator should run with a fast time scale (the Rust test uses 0.01). It prints one JSON
summary on stdout and exits non-zero when any check fails.
"""

import argparse
import datetime
import json
import sys
import time
import traceback

import oci
import requests


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def expect_types(obj, **fields):
    """Each named attribute of an SDK model must be present and of the given type."""
    for name, kind in fields.items():
        value = getattr(obj, name)
        expect(value is not None, f"{type(obj).__name__}.{name} is missing")
        expect(isinstance(value, kind), f"{type(obj).__name__}.{name} is {type(value).__name__}, not {kind}")


def expect_service_error(fn, status, code):
    try:
        fn()
    except oci.exceptions.ServiceError as e:
        expect(e.status == status, f"expected HTTP {status}, got {e.status} {e.code}: {e.message}")
        expect(e.code == code, f"expected code {code}, got {e.code}: {e.message}")
        expect(e.request_id, "no opc-request-id on the error")
        return {"status": e.status, "code": e.code, "message": e.message}
    raise CheckFailed(f"expected a ServiceError {status} {code}, the call succeeded")


def poll(fetch, done, what, timeout=30.0):
    """Calls fetch() until done(result); fails with the last result after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fetch()
        if done(last):
            return last
        time.sleep(0.05)
    raise CheckFailed(f"{what} did not happen within {timeout} s (last: {last})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the simulator's OCI config file")
    ap.add_argument("--endpoint", required=True, help="the simulator's base URL")
    args = ap.parse_args()
    url = args.endpoint.rstrip("/")

    checks = []
    state = {}

    def check(name, fn):
        try:
            detail = fn()
            checks.append({"name": name, "ok": True, "detail": detail})
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            checks.append({
                "name": name,
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc(limit=4),
            })

    seed = requests.get(url + "/_sim/seed", timeout=10).json()
    compartment = seed["compartment"]
    ad = seed["availabilityDomains"][0]
    config = oci.config.from_file(args.config, "DEFAULT")
    signer = oci.signer.Signer(
        tenancy=config["tenancy"],
        user=config["user"],
        fingerprint=config["fingerprint"],
        private_key_file_location=config["key_file"],
    )
    compute = oci.core.ComputeClient(config, service_endpoint=url)
    network = oci.core.VirtualNetworkClient(config, service_endpoint=url)
    lb = oci.load_balancer.LoadBalancerClient(config, service_endpoint=url)
    nlb = oci.network_load_balancer.NetworkLoadBalancerClient(config, service_endpoint=url)
    objects = oci.object_storage.ObjectStorageClient(config, service_endpoint=url)
    core = oci.core.models

    def launch_details(name, subnet=None):
        return core.LaunchInstanceDetails(
            compartment_id=compartment,
            availability_domain=ad,
            shape="VM.Standard.E4.Flex",
            shape_config=core.LaunchInstanceShapeConfigDetails(ocpus=1.0, memory_in_gbs=16.0),
            display_name=name,
            source_details=core.InstanceSourceViaImageDetails(image_id=seed["image"]),
            create_vnic_details=core.CreateVnicDetails(subnet_id=subnet or seed["subnet"], assign_public_ip=False),
            metadata={"ssh_authorized_keys": "ssh-ed25519 AAAA sdk", "user_data": "IyEvYmluL3NoCg=="},
            freeform_tags={"fleet": "sdk", "slot": name},
        )

    def wait_instance(instance_id, target):
        r = oci.wait_until(compute, compute.get_instance(instance_id), "lifecycle_state", target,
                           max_interval_seconds=1, max_wait_seconds=60)
        expect(r.data.lifecycle_state == target, f"state {r.data.lifecycle_state}")
        return r

    # ------------------------------------------------------------------ compute

    def launch():
        r = compute.launch_instance(launch_details("sdk-1"))
        i = r.data
        expect(isinstance(i, core.Instance), f"not an Instance: {type(i)}")
        expect(i.lifecycle_state == "PROVISIONING", f"state {i.lifecycle_state}")
        expect_types(i, id=str, compartment_id=str, availability_domain=str, shape=str, region=str,
                     time_created=datetime.datetime, freeform_tags=dict, metadata=dict,
                     shape_config=core.InstanceShapeConfig, source_details=core.InstanceSourceViaImageDetails)
        expect_types(i.shape_config, ocpus=float, memory_in_gbs=float, vcpus=int)
        expect(i.source_details.image_id == seed["image"], "sourceDetails.imageId")
        expect(r.headers.get("etag"), "no etag")
        expect(r.headers.get("opc-work-request-id"), "no opc-work-request-id")
        state["instance"] = i.id
        return {"id": i.id}

    def launch_retry_token():
        first = compute.launch_instance(launch_details("sdk-retry"), opc_retry_token="sdk-retry-token-1").data
        again = compute.launch_instance(launch_details("sdk-retry"), opc_retry_token="sdk-retry-token-1").data
        expect(first.id == again.id, f"a replayed launch made a second instance: {first.id} {again.id}")
        state["retry_instance"] = first.id
        return {"id": first.id}

    def get_running():
        r = wait_instance(state["instance"], "RUNNING")
        expect(r.headers.get("etag"), "no etag on GetInstance")
        return {"state": r.data.lifecycle_state}

    def list_paged():
        compute.launch_instance(launch_details("sdk-2"))
        first = compute.list_instances(compartment, limit=1)
        expect(len(first.data) == 1 and first.has_next_page, "limit=1 gave no first page with opc-next-page")
        everything = oci.pagination.list_call_get_all_results(compute.list_instances, compartment, limit=1).data
        expect(all(isinstance(x, core.Instance) for x in everything), "not Instances")
        ids = [x.id for x in everything]
        expect(len(ids) == len(set(ids)), "paging returned an instance twice")
        expect(state["instance"] in ids, "the launched instance is not listed")
        ours = [x for x in everything if (x.freeform_tags or {}).get("fleet") == "sdk"]
        expect(len(ours) == 3, f"expected 3 sdk instances (sdk-1, sdk-retry, sdk-2), got {len(ours)}")
        by_name = compute.list_instances(compartment, sort_by="DISPLAYNAME", sort_order="ASC").data
        names = [x.display_name for x in by_name]
        expect(names == sorted(names), f"not sorted by name: {names}")
        one = compute.list_instances(compartment, display_name="sdk-2").data
        expect([x.display_name for x in one] == ["sdk-2"], "displayName filter")
        return {"listed": len(ids)}

    def vnics():
        atts = compute.list_vnic_attachments(compartment, instance_id=state["instance"]).data
        expect(len(atts) == 1, f"{len(atts)} attachments")
        a = atts[0]
        expect(isinstance(a, core.VnicAttachment), "not a VnicAttachment")
        expect(a.lifecycle_state == "ATTACHED", f"attachment {a.lifecycle_state}")
        expect_types(a, id=str, instance_id=str, vnic_id=str, subnet_id=str, time_created=datetime.datetime, nic_index=int)
        again = compute.get_vnic_attachment(a.id).data
        expect(again.vnic_id == a.vnic_id, "get_vnic_attachment")
        v = network.get_vnic(a.vnic_id)
        expect(isinstance(v.data, core.Vnic), "not a Vnic")
        expect(v.data.is_primary is True, "not primary")
        expect_types(v.data, private_ip=str, mac_address=str, time_created=datetime.datetime)
        expect(v.headers.get("etag"), "no etag on GetVnic")
        paged = oci.pagination.list_call_get_all_results(compute.list_vnic_attachments, compartment, limit=1).data
        expect(len(paged) >= 4 and len({x.id for x in paged}) == len(paged), f"{len(paged)} attachments paged")
        s = network.get_subnet(a.subnet_id).data
        expect(isinstance(s, core.Subnet) and s.cidr_block == "10.0.0.0/24", f"subnet {s.cidr_block}")
        expect(v.data.private_ip.startswith("10.0.0."), f"ip {v.data.private_ip} is not in the subnet")
        state["ip"] = v.data.private_ip
        return {"privateIp": v.data.private_ip}

    def missing_compartment():
        resp = requests.get(url + "/20160918/vnicAttachments", auth=signer, timeout=10)
        expect(resp.status_code == 400 and resp.json()["code"] == "MissingParameter", f"{resp.status_code} {resp.text[:200]}")
        return resp.json()

    def actions():
        iid = state["retry_instance"]
        wait_instance(iid, "RUNNING")
        r = compute.instance_action(iid, "STOP")
        expect(isinstance(r.data, core.Instance) and r.data.lifecycle_state == "STOPPING", f"STOP -> {r.data.lifecycle_state}")
        wait_instance(iid, "STOPPED")
        expect(compute.instance_action(iid, "START").data.lifecycle_state == "STARTING", "START")
        wait_instance(iid, "RUNNING")
        expect(compute.instance_action(iid, "SOFTRESET").data.lifecycle_state == "STOPPING", "SOFTRESET")
        wait_instance(iid, "RUNNING")
        err = expect_service_error(lambda: compute.instance_action(iid, "STOP", if_match="stale-etag"), 412, "NoEtagMatch")
        return {"refusedStaleEtag": err["code"]}

    def terminate():
        iid = state["retry_instance"]
        r = compute.terminate_instance(iid, preserve_boot_volume=False)
        expect(r.status == 204, f"status {r.status}")
        expect(r.headers.get("opc-work-request-id"), "no opc-work-request-id")
        wait_instance(iid, "TERMINATED")
        atts = compute.list_vnic_attachments(compartment, instance_id=iid).data
        expect(atts[0].lifecycle_state == "DETACHED", f"attachment {atts[0].lifecycle_state}")
        return {"state": "TERMINATED"}

    # ------------------------------------------------------------------ classic LB

    lb_id = seed["loadBalancer"]
    lbm = oci.load_balancer.models

    def wait_lb_work_request(wr_id):
        r = oci.wait_until(lb, lb.get_work_request(wr_id),
                           evaluate_response=lambda r: r.data.lifecycle_state in ("SUCCEEDED", "FAILED"),
                           max_interval_seconds=1, max_wait_seconds=60)
        w = r.data
        expect(isinstance(w, lbm.WorkRequest), "not a WorkRequest")
        expect_types(w, id=str, load_balancer_id=str, type=str, lifecycle_state=str, message=str,
                     time_accepted=datetime.datetime, time_finished=datetime.datetime)
        return w

    def lb_get():
        r = lb.get_load_balancer(lb_id)
        expect(isinstance(r.data, lbm.LoadBalancer), "not a LoadBalancer")
        expect(r.data.lifecycle_state == "ACTIVE", "not ACTIVE")
        expect("web" in r.data.backend_sets, "no web backend set")
        expect(r.headers.get("etag"), "no ETag")
        bs = lb.get_backend_set(lb_id, "web").data
        expect(isinstance(bs, lbm.BackendSet) and bs.policy == "ROUND_ROBIN", "backend set")
        expect(bs.health_checker.port == 8080, f"health checker port {bs.health_checker.port}")
        return {"sets": list(r.data.backend_sets)}

    def lb_create_backend():
        details = lbm.CreateBackendDetails(ip_address=state["ip"], port=8080, weight=1, backup=False, drain=False, offline=False)
        r = lb.create_backend(details, lb_id, "web", opc_retry_token="sdk-lb-create")
        expect(r.status == 204, f"status {r.status}")
        wr = r.headers.get("opc-work-request-id")
        expect(wr, "no opc-work-request-id")
        w = wait_lb_work_request(wr)
        expect(w.lifecycle_state == "SUCCEEDED", f"work request {w.lifecycle_state}: {w.error_details}")
        backends = lb.list_backends(lb_id, "web").data
        expect([b.name for b in backends] == [f"{state['ip']}:8080"], f"backends {[b.name for b in backends]}")
        b = lb.get_backend(lb_id, "web", f"{state['ip']}:8080").data
        expect(isinstance(b, lbm.Backend), "not a Backend")
        expect_types(b, name=str, ip_address=str, port=int, weight=int, drain=bool, backup=bool, offline=bool)
        return {"workRequest": wr}

    def lb_health():
        name = f"{state['ip']}:8080"
        h = poll(lambda: lb.get_backend_health(lb_id, "web", name).data, lambda h: h.status == "OK", "backend OK")
        expect(isinstance(h, lbm.BackendHealth), "not a BackendHealth")
        expect(len(h.health_check_results) == 2, "two probes")
        expect_types(h.health_check_results[0], health_check_status=str, timestamp=datetime.datetime, source_ip_address=str)
        s = lb.get_backend_set_health(lb_id, "web").data
        expect(isinstance(s, lbm.BackendSetHealth) and s.status == "OK" and s.total_backend_count == 1, f"set {s.status}")
        whole = lb.get_load_balancer_health(lb_id).data
        expect(isinstance(whole, lbm.LoadBalancerHealth) and whole.status == "OK", f"lb {whole.status}")
        return {"backend": h.status, "set": s.status, "lb": whole.status}

    def lb_update_backend():
        name = f"{state['ip']}:8080"
        r = lb.update_backend(lbm.UpdateBackendDetails(weight=2, backup=False, drain=True, offline=False), lb_id, "web", name)
        expect(r.status == 204, f"status {r.status}")
        w = wait_lb_work_request(r.headers["opc-work-request-id"])
        expect(w.lifecycle_state == "SUCCEEDED", f"update {w.lifecycle_state}")
        b = lb.get_backend(lb_id, "web", name).data
        expect(b.drain is True and b.weight == 2, f"drain {b.drain} weight {b.weight}")
        return {"drain": b.drain}

    def lb_duplicate_fails():
        details = lbm.CreateBackendDetails(ip_address=state["ip"], port=8080)
        r = lb.create_backend(details, lb_id, "web")
        w = wait_lb_work_request(r.headers["opc-work-request-id"])
        expect(w.lifecycle_state == "FAILED", f"duplicate {w.lifecycle_state}")
        expect(w.error_details and w.error_details[0].error_code == "BAD_INPUT", f"errors {w.error_details}")
        return {"errorCode": w.error_details[0].error_code}

    def lb_list_work_requests():
        all_wrs = oci.pagination.list_call_get_all_results(lb.list_work_requests, lb_id, limit=1).data
        expect(len(all_wrs) >= 3, f"{len(all_wrs)} work requests")
        expect(all(isinstance(w, lbm.WorkRequest) for w in all_wrs), "not WorkRequests")
        return {"count": len(all_wrs)}

    def lb_delete_backend():
        r = lb.delete_backend(lb_id, "web", f"{state['ip']}:8080")
        expect(r.status == 204, f"status {r.status}")
        w = wait_lb_work_request(r.headers["opc-work-request-id"])
        expect(w.lifecycle_state == "SUCCEEDED", f"delete {w.lifecycle_state}")
        expect(lb.list_backends(lb_id, "web").data == [], "backend still listed")
        return {"deleted": True}

    # ------------------------------------------------------------------ NLB

    nlb_id = seed["networkLoadBalancer"]
    nlbm = oci.network_load_balancer.models

    def wait_nlb_work_request(wr_id):
        r = oci.wait_until(nlb, nlb.get_work_request(wr_id),
                           evaluate_response=lambda r: r.data.status in ("SUCCEEDED", "FAILED"),
                           max_interval_seconds=1, max_wait_seconds=60)
        w = r.data
        expect(isinstance(w, nlbm.WorkRequest), "not a WorkRequest")
        expect_types(w, id=str, operation_type=str, status=str, compartment_id=str, percent_complete=float,
                     time_accepted=datetime.datetime, time_finished=datetime.datetime, resources=list)
        return w

    def nlb_cycle():
        n = nlb.get_network_load_balancer(nlb_id)
        expect(isinstance(n.data, nlbm.NetworkLoadBalancer) and n.data.lifecycle_state == "ACTIVE", "NLB")
        expect("web" in n.data.backend_sets, "no web set")
        r = nlb.create_backend(nlb_id,
                               nlbm.CreateBackendDetails(ip_address=state["ip"], port=8080, weight=1,
                                                         is_drain=False, is_backup=False, is_offline=False),
                               "web", opc_retry_token="sdk-nlb-create")
        expect(r.status == 202, f"create status {r.status}")
        conflict = expect_service_error(
            lambda: nlb.create_backend(nlb_id, nlbm.CreateBackendDetails(ip_address="10.0.0.77", port=8080), "web"),
            409, "Conflict")
        w = wait_nlb_work_request(r.headers["opc-work-request-id"])
        expect(w.status == "SUCCEEDED" and w.operation_type == "CREATE_BACKEND", f"{w.status} {w.operation_type}")
        listed = oci.pagination.list_call_get_all_results(nlb.list_backends, nlb_id, "web", limit=1).data
        expect([b.name for b in listed] == [f"{state['ip']}:8080"], f"listed {[b.name for b in listed]}")
        expect(all(isinstance(b, nlbm.BackendSummary) for b in listed), "not BackendSummary")
        name = f"{state['ip']}:8080"
        b = nlb.get_backend(nlb_id, "web", name).data
        expect_types(b, name=str, ip_address=str, port=int, weight=int, is_drain=bool, is_backup=bool, is_offline=bool)
        h = poll(lambda: nlb.get_backend_health(nlb_id, "web", name).data, lambda h: h.status == "OK", "NLB backend OK")
        expect(isinstance(h, nlbm.BackendHealth) and len(h.health_check_results) == 2, "NLB health")
        s = nlb.get_backend_set_health(nlb_id, "web").data
        expect(isinstance(s, nlbm.BackendSetHealth) and s.status == "OK", f"set {s.status}")
        u = nlb.update_backend(nlb_id, nlbm.UpdateBackendDetails(is_drain=True), "web", name)
        expect(u.status == 202, f"update status {u.status}")
        expect(wait_nlb_work_request(u.headers["opc-work-request-id"]).status == "SUCCEEDED", "update")
        expect(nlb.get_backend(nlb_id, "web", name).data.is_drain is True, "isDrain not applied")
        d = nlb.delete_backend(nlb_id, "web", name)
        expect(d.status == 202, f"delete status {d.status}")
        expect(wait_nlb_work_request(d.headers["opc-work-request-id"]).status == "SUCCEEDED", "delete")
        expect(nlb.list_backends(nlb_id, "web").data.items == [], "backend still listed")
        return {"conflict": conflict["message"]}

    # ------------------------------------------------------------------ Object Storage

    def namespace():
        ns = objects.get_namespace().data
        expect(ns == seed["namespace"], f"namespace {ns!r}")
        b = objects.get_bucket(ns, seed["bucket"])
        expect(isinstance(b.data, oci.object_storage.models.Bucket) and b.data.name == seed["bucket"], "bucket")
        expect_types(b.data, namespace=str, compartment_id=str, etag=str, time_created=datetime.datetime)
        created = objects.create_bucket(ns, oci.object_storage.models.CreateBucketDetails(
            name="sdk-bucket", compartment_id=compartment)).data
        expect(created.name == "sdk-bucket", "create_bucket")
        expect(objects.head_bucket(ns, "sdk-bucket").status == 200, "head_bucket")
        return {"namespace": ns}

    def conditional_writes():
        ns, bucket = seed["namespace"], seed["bucket"]
        name = "fleets/web/state.json"
        first = objects.put_object(ns, bucket, name, b'{"generation":1}', if_none_match="*",
                                   content_type="application/json", opc_meta={"owner": "sdk"})
        e1 = first.headers["etag"]
        expect(e1, "no etag")
        again = expect_service_error(lambda: objects.put_object(ns, bucket, name, b"x", if_none_match="*"),
                                     412, "IfNoneMatchFailed")
        second = objects.put_object(ns, bucket, name, b'{"generation":2}', if_match=e1)
        e2 = second.headers["etag"]
        expect(e2 and e2 != e1, "the etag did not change")
        stale = expect_service_error(lambda: objects.put_object(ns, bucket, name, b"y", if_match=e1),
                                     412, "IfMatchFailed")
        got = objects.get_object(ns, bucket, name)
        expect(got.data.content == b'{"generation":2}', f"content {got.data.content!r}")
        expect(got.headers["etag"] == e2, "GetObject etag")
        expect(got.headers.get("opc-meta-owner") is None, "metadata is per write: the second put had none")
        head = objects.head_object(ns, bucket, name)
        expect(head.status == 200 and head.headers["etag"] == e2, "HeadObject")
        expect(int(head.headers["content-length"]) == len(b'{"generation":2}'), "HeadObject content-length")
        state["etag"] = e2
        return {"ifNoneMatch": again["code"], "staleIfMatch": stale["code"]}

    def list_and_delete():
        ns, bucket = seed["namespace"], seed["bucket"]
        for n in range(5):
            objects.put_object(ns, bucket, f"listing/item-{n}", b"x" * n)
        first = objects.list_objects(ns, bucket, prefix="listing/", limit=2, fields="name,size,etag,timeCreated")
        expect(isinstance(first.data, oci.object_storage.models.ListObjects), "not ListObjects")
        expect(first.data.next_start_with == "listing/item-2", f"nextStartWith {first.data.next_start_with}")
        o = first.data.objects[0]
        expect_types(o, name=str, size=int, etag=str, time_created=datetime.datetime)
        everything = oci.pagination.list_call_get_all_results(objects.list_objects, ns, bucket,
                                                              prefix="listing/", limit=2).data.objects
        expect([x.name for x in everything] == [f"listing/item-{n}" for n in range(5)], "paged listing")
        grouped = objects.list_objects(ns, bucket, delimiter="/").data
        expect("listing/" in grouped.prefixes and "fleets/" in grouped.prefixes, f"prefixes {grouped.prefixes}")
        stale = expect_service_error(
            lambda: objects.delete_object(ns, bucket, "fleets/web/state.json", if_match="stale"), 412, "IfMatchFailed")
        d = objects.delete_object(ns, bucket, "fleets/web/state.json", if_match=state["etag"])
        expect(d.status == 204, f"delete status {d.status}")
        missing = expect_service_error(lambda: objects.get_object(ns, bucket, "fleets/web/state.json"),
                                       404, "ObjectNotFound")
        no_bucket = expect_service_error(lambda: objects.get_object(ns, "no-such-bucket", "x"), 404, "BucketNotFound")
        return {"stale": stale["code"], "missing": missing["code"], "noBucket": no_bucket["code"]}

    def other_reads():
        subnets = network.list_subnets(compartment).data
        expect(sorted(x.cidr_block for x in subnets) == ["10.0.0.0/24", "10.0.1.0/24"], "two subnets")
        image = compute.get_image(seed["image"]).data
        expect(isinstance(image, core.Image) and image.lifecycle_state == "AVAILABLE", "image")
        expect_types(image, size_in_mbs=int, time_created=datetime.datetime)
        lbs = lb.list_load_balancers(compartment).data
        expect([x.id for x in lbs] == [lb_id], "list_load_balancers")
        buckets = objects.list_buckets(seed["namespace"], compartment).data
        expect(seed["bucket"] in [b.name for b in buckets], "list_buckets")
        wrs = oci.pagination.list_call_get_all_results(lb.list_work_requests, lb_id).data
        nlb_wr = nlb.create_backend(nlb_id, nlbm.CreateBackendDetails(ip_address="10.0.0.78", port=80), "web")
        w = wait_nlb_work_request(nlb_wr.headers["opc-work-request-id"])
        errors = nlb.list_work_request_errors(w.id, compartment).data
        expect(isinstance(errors, nlbm.WorkRequestErrorCollection) and errors.items == [], "no errors")
        return {"lbWorkRequests": len(wrs)}

    check("compute.launch_instance", launch)
    check("compute.launch_retry_token", launch_retry_token)
    check("compute.get_instance_running", get_running)
    check("compute.list_instances_paged", list_paged)
    check("network.vnics", vnics)
    check("network.missing_compartment", missing_compartment)
    check("compute.instance_action", actions)
    check("compute.terminate_instance", terminate)
    check("lb.get", lb_get)
    check("lb.create_backend", lb_create_backend)
    check("lb.health", lb_health)
    check("lb.update_backend", lb_update_backend)
    check("lb.duplicate_fails", lb_duplicate_fails)
    check("lb.list_work_requests", lb_list_work_requests)
    check("lb.delete_backend", lb_delete_backend)
    check("nlb.backend_cycle", nlb_cycle)
    check("os.namespace_and_buckets", namespace)
    check("os.conditional_writes", conditional_writes)
    check("os.list_and_delete", list_and_delete)
    check("extras.other_reads", other_reads)

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
