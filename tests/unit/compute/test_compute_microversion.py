"""Which compute microversion a request names, and Nova's answers for bad ones."""

import pytest

from astara.compute_service.api import errors, microversion


@pytest.mark.parametrize(("headers", "raw"), [
    ({}, None),
    ({"openstack-api-version": "compute 2.37"}, "2.37"),
    ({"openstack-api-version": "placement 1.2, compute 2.5"}, "2.5"),
    ({"openstack-api-version": "compute 2.5, compute 2.10"}, "2.10"),  # the last, as Nova
    ({"openstack-api-version": "placement 1.2"}, None),
    ({"openstack-api-version": "compute "}, None),
    ({"x-openstack-nova-api-version": "2.19"}, "2.19"),
    ({"x-openstack-nova-api-version": ""}, None),
    ({"openstack-api-version": "compute 2.60",
      "x-openstack-nova-api-version": "2.19"}, "2.60"),  # the standard header wins
    ({"openstack-api-version": "compute latest"}, "latest"),
])
def test_requested_version(headers, raw):
    assert microversion.requested(headers) == raw


@pytest.mark.parametrize(("raw", "version"), [
    (None, (2, 1)), ("2.1", (2, 1)), ("2.104", (2, 104)), ("latest", (2, 104)),
    ("LATEST", (2, 104)), ("2.19", (2, 19)),
])
def test_accepted_versions(raw, version):
    assert microversion.parse(raw) == version


@pytest.mark.parametrize("raw", ["2.0", "2.105", "3.1", "1.99", "2.-1"])
def test_a_version_out_of_range_is_406(raw):
    with pytest.raises(errors.NotAcceptable) as exc:
        microversion.parse(raw)
    assert exc.value.status == 406
    assert exc.value.message == (f"Version {raw} is not supported by the API. "
                                 "Minimum is 2.1 and maximum is 2.104.")


@pytest.mark.parametrize("raw", ["2", "two.one", "2.1.0", "2.", ".5", "", "2.x"])
def test_a_malformed_version_is_400(raw):
    with pytest.raises(errors.BadRequest) as exc:
        microversion.parse(raw)
    assert exc.value.status == 400
    assert exc.value.message == (f"API Version String {raw} is of invalid format. Must be "
                                 "of format MajorNum.MinorNum.")
