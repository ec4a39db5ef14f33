"""A TERMINATED_HTTPS listener's certificates and TLS options.

The refs a request gives (``certificates``: a data URI or an ``astara:pem`` reference)
become references on the listener's row and bundles in ``lb_listener_certificates``
under the listener's project (its load balancer's). An ``astara:pem`` reference is
found only among that project's bundles: another project's is "Could not retrieve
certificate", as Octavia answers for a secret it cannot read. TLS versions, ciphers
and ALPN protocols are Octavia's defaults only (the appliance renders those); another
value is "not yet". Client authentication (a client CA) is not yet, so neither are the
``SSL_*`` L7 rules.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select

from astara.loadbalancer_service import certificates, errors
from astara.loadbalancer_service import models as m
from astara.loadbalancer_service.resources.base import Op
from astara.wire.loadbalancer_config import MAX_CERTIFICATES

PROTOCOL = "TERMINATED_HTTPS"
REFS = ("default_tls_container_ref", "sni_container_refs")
# Octavia 19's defaults for a TERMINATED_HTTPS listener ([api_settings]
# default_listener_tls_versions, default_listener_ciphers, default_listener_alpn_protocols).
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("h2", "http/1.1", "http/1.0")
TLS_CIPHERS = ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
               "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
               "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
               "DHE-RSA-AES256-SHA256:DHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
               "ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256")
OPTIONS = ("tls_versions", "tls_ciphers", "alpn_protocols")
# All of a load balancer's bundles travel in its appliance's one config document
# (bounded at 4 MiB by the appliance API): past these, the whole load balancer could
# never be configured, so the listener asking for more is refused instead.
MAX_PEM_PER_LOADBALANCER = 2 * 1024 * 1024
NEEDS_REF = ("An SNI or default certificate container reference must be provided for "
             "TERMINATED_HTTPS protocol listeners.")


def check_options(protocol: str, data: dict) -> None:
    """Octavia's defaults (or null) only; on TERMINATED_HTTPS listeners only."""
    given = {k: data[k] for k in OPTIONS if data.get(k) not in (None, [], "")}
    if data.get("client_authentication") not in (None, "NONE"):
        raise errors.unsupported("client_authentication (client certificates: not yet)")
    if not given:
        return
    if protocol != PROTOCOL:
        raise errors.validation(f"{', '.join(sorted(given))} may only be set on "
                                "TERMINATED_HTTPS protocol listeners.")
    if "tls_versions" in given and set(given["tls_versions"]) != set(TLS_VERSIONS):
        raise errors.unsupported(f"tls_versions other than {list(TLS_VERSIONS)} (not yet)")
    if "alpn_protocols" in given and set(given["alpn_protocols"]) != set(ALPN_PROTOCOLS):
        raise errors.unsupported(f"alpn_protocols other than {list(ALPN_PROTOCOLS)} "
                                 "(not yet)")
    if "tls_ciphers" in given and given["tls_ciphers"] != TLS_CIPHERS:
        raise errors.unsupported("tls_ciphers other than Octavia's default (not yet)")


def check_refs_allowed(protocol: str, data: dict) -> None:
    if protocol != PROTOCOL and any(data.get(k) for k in REFS):
        raise errors.validation("Certificate container references are only allowed on "
                                "TERMINATED_HTTPS protocol listeners.")


def _bundle(op: Op, project_id: str, name: str, ref: str) -> certificates.Bundle:
    if certificates.is_data_uri(ref):
        return certificates.parse_data_uri(name, ref)
    pem = op.session.scalar(select(m.ListenerCertificate.pem).where(
        m.ListenerCertificate.project_id == project_id,
        m.ListenerCertificate.ref == ref).limit(1))
    if pem is None:
        raise errors.BadRequest(f"Could not retrieve certificate: ['{ref}']")
    return certificates.Bundle(ref, pem)


def store(op: Op, row: m.Listener, project_id: str, data: dict) -> None:
    """Set the listener's refs from ``data`` (those given; the others kept) and keep
    exactly its bundles; a TERMINATED_HTTPS listener must be left with one ref."""
    if row.protocol != PROTOCOL or not any(k in data for k in REFS):
        return  # another protocol's refs can only be null or empty (checked before)
    default = row.default_tls_container_ref
    sni = list(row.sni_container_refs or [])
    bundles: dict[str, certificates.Bundle] = {}
    if "default_tls_container_ref" in data:
        given = data["default_tls_container_ref"]
        default = None
        if given:
            bundle = _bundle(op, project_id, "default_tls_container_ref", given)
            bundles[bundle.ref], default = bundle, bundle.ref
    if "sni_container_refs" in data:
        sni = []
        for given in data["sni_container_refs"] or []:
            bundle = _bundle(op, project_id, "sni_container_refs", given)
            bundles[bundle.ref] = bundle
            sni.append(bundle.ref)
        sni = list(dict.fromkeys(sni))
    if not default and not sni:
        raise errors.validation(NEEDS_REF)
    kept = {c.ref: c.pem for c in op.session.scalars(select(m.ListenerCertificate).where(
        m.ListenerCertificate.listener_id == row.id))}
    wanted = dict.fromkeys(filter(None, [default, *sni]))
    pems = {ref: bundles[ref].pem if ref in bundles else kept[ref] for ref in wanted}
    _check_room(op, row, pems)
    op.session.execute(delete(m.ListenerCertificate).where(
        m.ListenerCertificate.listener_id == row.id))
    op.session.flush()
    op.session.add_all(m.ListenerCertificate(listener_id=row.id, ref=ref,
                                             project_id=project_id, pem=pem)
                       for ref, pem in pems.items())
    row.default_tls_container_ref = default
    row.sni_container_refs = sni or None


def _check_room(op: Op, row: m.Listener, pems: dict[str, str]) -> None:
    """The load balancer's distinct bundles, this listener's new ones included, within
    what one appliance document carries."""
    others = dict(op.session.execute(
        select(m.ListenerCertificate.ref, func.length(m.ListenerCertificate.pem))
        .join(m.Listener, m.Listener.id == m.ListenerCertificate.listener_id)
        .where(m.Listener.loadbalancer_id == row.loadbalancer_id,
               m.Listener.id != row.id)).all())
    sizes = {**others, **{ref: len(pem) for ref, pem in pems.items()}}
    if len(sizes) > MAX_CERTIFICATES:
        raise errors.validation(f"A load balancer's listeners may hold at most "
                                f"{MAX_CERTIFICATES} distinct certificates; this would "
                                f"make {len(sizes)}.")
    if sum(sizes.values()) > MAX_PEM_PER_LOADBALANCER:
        raise errors.validation(f"A load balancer's listeners may hold at most "
                                f"{MAX_PEM_PER_LOADBALANCER // 1024} KiB of certificate "
                                f"bundles; this would make {sum(sizes.values()) // 1024} KiB.")
