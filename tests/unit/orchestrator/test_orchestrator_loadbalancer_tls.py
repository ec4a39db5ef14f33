"""The loadbalancer driver and TERMINATED_HTTPS: the model's bundles go into the
document once each, by reference; a listener whose bundle is missing is refused; no
repr, refusal or status quotes a key."""

from __future__ import annotations

from tests.loadbalancer_world import lb_view, listener, member, pool

from astara.orchestrator.drivers import loadbalancer as lbd
from astara.orchestrator.drivers import loadbalancer_status as status
from astara.orchestrator.drivers.loadbalancer_map import loadbalancer_section

SECRET = "MIIsecretKEYmaterial"
PEM = ("-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n"
       f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n")
REF = "astara:pem:sha256:" + "c" * 64
OTHER = "astara:pem:sha256:" + "d" * 64


def parts(certificates):
    return {
        "listeners": [listener("l-tls", "TERMINATED_HTTPS", 443, pool="p-http",
                               default_tls_container_ref=REF, sni_container_refs=[REF]),
                      listener("l-sni", "TERMINATED_HTTPS", 8443, pool="p-http",
                               sni_container_refs=[OTHER])],
        "pools": [pool("p-http", members=("m-1",))],
        "members": [member("m-1", "192.0.2.21")],
        "healthmonitors": [],
        "certificates": certificates,
    }


def section(p):
    return loadbalancer_section(lb_view(), p["listeners"], p["pools"], p["members"],
                                p["healthmonitors"], (), (), p["certificates"])


def test_a_terminated_https_listener_is_served_with_its_bundle_once():
    doc, refused = section(parts([{"ref": REF, "pem": PEM}, {"ref": OTHER, "pem": PEM}]))
    assert refused == {}
    tls = doc["listeners"][1]
    assert (tls["id"], tls["protocol"], tls["default_tls_container_ref"],
            tls["sni_container_refs"]) == ("l-tls", "TERMINATED_HTTPS", REF, [REF])
    assert doc["certificates"] == [{"ref": OTHER, "pem": PEM}, {"ref": REF, "pem": PEM}]


def test_a_listener_whose_bundle_is_missing_or_bad_is_refused_without_quoting_it():
    doc, refused = section(parts([{"ref": REF, "pem": "junk " + SECRET}, {"ref": OTHER,
                                                                          "pem": PEM}]))
    assert [x["id"] for x in doc["listeners"]] == ["l-sni"]
    assert refused == {"l-tls": ("listener", f"its certificate {REF} is not in the model")}
    assert [c["ref"] for c in doc["certificates"]] == [OTHER]
    assert SECRET not in repr(refused)


def test_the_model_keeps_the_bundles_out_of_its_repr_and_the_status_report():
    body = {"revision": 3, "loadbalancer": lb_view(),
            **{k: v for k, v in parts([{"ref": REF, "pem": PEM},
                                       {"ref": OTHER, "pem": PEM}]).items()}}
    model = lbd.LoadBalancerModel.of(body)
    assert model.certificates[0]["pem"] == PEM and SECRET not in repr(model)
    report = status.statuses(model, None, "ACTIVE")
    assert SECRET not in repr(report)
    assert {x["id"]: x["provisioning_status"] for x in report["listeners"]} == {
        "l-tls": "ACTIVE", "l-sni": "ACTIVE"}
