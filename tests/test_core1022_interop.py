"""The reference core against an independent Open311 client it was not written with: `georeport` from PyPI
(a GeoReport v2 wrapper used against US cities' endpoints), in both JSON and XML. It has no create call,
so cases are created with a plain form POST as the spec describes."""
import httpx
import pytest
from georeport import GeoReport

from core1022.app import create_app
from tests.live_server import LiveServer

KEY = "interop-key"


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    db = tmp_path_factory.mktemp("core") / "core.db"
    with LiveServer(create_app(f"sqlite:///{db}", [KEY])) as srv:
        base = f"{srv.url}/open311/v2"
        for code, desc in (("TN-NGAP", "Ngập sâu đoạn hầm chui"), ("CX-CAYNGA", "Cây ngã chắn đường")):
            r = httpx.post(f"{base}/requests.json", data={"api_key": KEY, "service_code": code, "lat": "10.7893",
                                                          "long": "106.7193", "description": desc})
            assert r.status_code in (200, 201), r.text
        yield base


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_independent_client_reads_services_and_requests(core, fmt):
    client = GeoReport(core, jurisdiction="hcmc.1022", output_format=fmt)
    services = client.get_service_list()
    assert {"TN-NGAP", "CX-CAYNGA"} <= {s["service_code"] for s in services}
    definition = client.get_service_definition("TN-NGAP")
    assert definition["service_code"] == "TN-NGAP"

    requests_ = client.get_service_requests(service_code="TN-NGAP")
    requests_ = requests_ if isinstance(requests_, list) else [requests_]  # xmltodict: one element → a dict
    assert [r["service_code"] for r in requests_] == ["TN-NGAP"]
    one = client.get_service_request(requests_[0]["service_request_id"])
    assert one["description"] == "Ngập sâu đoạn hầm chui" and one["status"] == "open"
    assert float(one["lat"]) == pytest.approx(10.7893)
