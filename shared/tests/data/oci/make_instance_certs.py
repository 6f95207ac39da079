# Generates the instance-principal test certificates (run once; outputs are committed).
import datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization

key = serialization.load_pem_private_key(open("second_key_pkcs8.pem", "rb").read(), None)

def cert(name, ous, serial):
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        + [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous]
    )
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake test intermediate (fleetctl)")])
    c = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(datetime.datetime(2025, 1, 1))
        .not_valid_after(datetime.datetime(2099, 12, 31))
        .sign(key, hashes.SHA256())
    )
    return c.public_bytes(serialization.Encoding.PEM)

open("leaf_other_tenancy_cert.pem", "wb").write(cert("test-other-instance", [
    "opc-certtype:instance",
    "opc-instance:ocid1.instance.oc1.iad.anuwcljotherinstancexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "opc-compartment:ocid1.compartment.oc1..aaaaaaaaothercompartmentxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "opc-tenant:ocid1.tenancy.oc1..aaaaaaaaothertenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
], 4097))
open("leaf_identity_prefix_cert.pem", "wb").write(cert("test-identity-instance", [
    "opc-certtype:instance",
    "opc-identity:ocid1.tenancy.oc1..aaaaaaaaidentityprefixtenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
], 4098))
open("leaf_without_tenant_cert.pem", "wb").write(cert("test-no-tenant", ["opc-certtype:instance"], 4099))
open("leaf_bad_tenancy_cert.pem", "wb").write(cert("test-bad-tenancy", [
    "opc-certtype:instance",
    "opc-tenant:ocid1.compartment.oc1..aaaaaaaanotatenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
], 4100))
