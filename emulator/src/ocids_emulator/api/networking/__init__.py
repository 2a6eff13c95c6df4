"""OCI Networking (``/20160918``), only as far as Data Science jobs need it: reading a subnet."""

from __future__ import annotations

from aiohttp import web

from ocids_emulator.api.httpio import emulator, json_response
from ocids_emulator.core.errors import not_found


async def get_subnet(request: web.Request) -> web.Response:
    """GetSubnet: the subnets of tenancy.json (``subnets``: id, compartmentId), always AVAILABLE."""
    emu = emulator(request)
    subnet_id = request.match_info["subnet_id"]
    compartment = emu.tenancy.subnets.get(subnet_id)
    if compartment is None:
        raise not_found(f"subnet {subnet_id}")
    doc = {
        "id": subnet_id,
        "compartmentId": compartment,
        "vcnId": f"ocid1.vcn.oc1.{emu.region}.emulator",
        "displayName": emu.tenancy.subnet_names.get(subnet_id, "subnet"),
        "cidrBlock": "10.0.0.0/24",
        "lifecycleState": "AVAILABLE",
        "prohibitPublicIpOnVnic": True,
        "timeCreated": "2024-01-01T00:00:00.000Z",
    }
    return json_response(doc, etag="subnet")


def routes() -> list[web.RouteDef]:
    return [web.get("/20160918/subnets/{subnet_id}", get_subnet, allow_head=False)]
