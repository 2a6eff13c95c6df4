"""Job shapes the emulator knows (``/20190101/jobShapes`` and the validation of shapeName)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ocids_emulator.api.httpio import emulator, list_response, query
from ocids_emulator.api.listing import required_compartment
from ocids_emulator.store.paging import check_limit


@dataclass(frozen=True)
class Shape:
    name: str
    cores: float
    memory_gb: float
    series: str
    flex: bool = False
    min_ocpus: float = 1
    max_ocpus: float = 0
    max_memory_gb: float = 0
    min_memory_per_ocpu: float = 1
    max_memory_per_ocpu: float = 64
    # What a flex shape gets when only ocpus are asked (Compute's defaultPerOcpuInGBs).
    default_memory_per_ocpu: float = 16


def _flex(name: str, max_ocpus: float, max_mem: float, series: str, default_per_ocpu: float = 16) -> Shape:
    return Shape(
        name,
        1,
        16,
        series,
        flex=True,
        max_ocpus=max_ocpus,
        max_memory_gb=max_mem,
        default_memory_per_ocpu=default_per_ocpu,
    )


SHAPES: dict[str, Shape] = {
    s.name: s
    for s in [
        _flex("VM.Standard.E3.Flex", 64, 1024, "AMD_ROME"),
        _flex("VM.Standard.E4.Flex", 64, 1024, "AMD_ROME"),
        _flex("VM.Standard.E5.Flex", 94, 1049, "AMD_ROME"),
        _flex("VM.Standard3.Flex", 32, 512, "INTEL_SKYLAKE"),
        _flex("VM.Optimized3.Flex", 18, 256, "INTEL_SKYLAKE"),
        _flex("VM.Standard.A1.Flex", 80, 512, "ARM", default_per_ocpu=6),
        Shape("VM.Standard2.1", 1, 15, "INTEL_SKYLAKE"),
        Shape("VM.Standard2.2", 2, 30, "INTEL_SKYLAKE"),
        Shape("VM.Standard2.4", 4, 60, "INTEL_SKYLAKE"),
        Shape("VM.Standard2.8", 8, 120, "INTEL_SKYLAKE"),
        Shape("VM.Standard2.16", 16, 240, "INTEL_SKYLAKE"),
        Shape("VM.Standard2.24", 24, 320, "INTEL_SKYLAKE"),
        Shape("VM.Standard.E2.2", 2, 16, "AMD_ROME"),
        Shape("VM.Standard.E2.4", 4, 32, "AMD_ROME"),
        Shape("VM.Standard.E2.8", 8, 64, "AMD_ROME"),
        Shape("VM.GPU2.1", 12, 72, "NVIDIA_GPU"),
        Shape("VM.GPU3.1", 6, 90, "NVIDIA_GPU"),
        Shape("VM.GPU3.2", 12, 180, "NVIDIA_GPU"),
        Shape("VM.GPU3.4", 24, 360, "NVIDIA_GPU"),
        Shape("VM.GPU3.8", 52, 768, "NVIDIA_GPU"),
        Shape("VM.GPU.A10.1", 15, 240, "NVIDIA_GPU"),
        Shape("VM.GPU.A10.2", 30, 480, "NVIDIA_GPU"),
        Shape("BM.GPU.A10.4", 64, 1024, "NVIDIA_GPU"),
        Shape("BM.GPU4.8", 64, 2048, "NVIDIA_GPU"),
        Shape("BM.GPU.H100.8", 112, 2048, "NVIDIA_GPU"),
    ]
}


def shape_summaries() -> list[dict[str, object]]:
    return [
        {"name": s.name, "coreCount": int(s.cores), "memoryInGBs": int(s.memory_gb), "shapeSeries": s.series}
        for s in SHAPES.values()
    ]


async def list_job_shapes(request: web.Request) -> web.Response:
    required_compartment(emulator(request), query(request))
    shapes = shape_summaries()
    limit = check_limit(request.query.get("limit"), default=100)
    start = int(request.query.get("page") or 0)
    chunk = shapes[start : start + limit]
    return list_response(chunk, str(start + limit) if start + limit < len(shapes) else None)


def routes() -> list[web.RouteDef]:
    return [web.get("/20190101/jobShapes", list_job_shapes, allow_head=False)]
