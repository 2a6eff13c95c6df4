"""What is knowable offline about OCI Data Science job shapes.

The shape field takes any name: which shapes exist is the compartment's business, and the operator
checks a name against OCI's ListJobShapes before it sends it. Offline, two things are known: a name
ending in `.Flex` is sized by ocpus and memoryInGBs (a fixed shape is not), and the flex shapes in
this table have the OCPU and memory ranges of Oracle's public shape docs. The table feeds the CRD's
CEL rules and the same checks in Python (so a spec parsed by the operator obeys the rules the API
server enforced). A name not in the table passes offline.
"""

from __future__ import annotations

from dataclasses import dataclass

# OCI refuses more memory than this per OCPU on every flex shape.
MAX_MEMORY_GB_PER_OCPU = 64.0
FLEX_SUFFIX = ".Flex"


@dataclass(frozen=True)
class FlexRange:
    min_ocpus: float
    max_ocpus: float
    min_memory_gbs: float
    max_memory_gbs: float


@dataclass(frozen=True)
class Shape:
    name: str
    series: str
    gpu: bool = False
    # None for fixed shapes: their OCPU and memory come with the shape.
    flex: FlexRange | None = None

    @property
    def is_flex(self) -> bool:
        return self.flex is not None


def _fixed(name: str, series: str, gpu: bool = False) -> Shape:
    return Shape(name=name, series=series, gpu=gpu)


SHAPES: tuple[Shape, ...] = (
    Shape("VM.Standard.E3.Flex", "AMD_ROME", flex=FlexRange(1, 64, 1, 1024)),
    Shape("VM.Standard.E4.Flex", "AMD_ROME", flex=FlexRange(1, 64, 1, 1024)),
    Shape("VM.Standard.E5.Flex", "AMD_ROME", flex=FlexRange(1, 94, 1, 1049)),
    Shape("VM.Standard3.Flex", "INTEL_SKYLAKE", flex=FlexRange(1, 32, 1, 512)),
    Shape("VM.Optimized3.Flex", "INTEL_SKYLAKE", flex=FlexRange(1, 18, 1, 256)),
    Shape("VM.Standard.A1.Flex", "ARM", flex=FlexRange(1, 80, 1, 512)),
    *(_fixed(f"VM.Standard2.{n}", "INTEL_SKYLAKE") for n in (1, 2, 4, 8, 16, 24)),
    *(_fixed(f"VM.Standard.E2.{n}", "AMD_ROME") for n in (2, 4, 8)),
    _fixed("VM.GPU2.1", "NVIDIA_GPU", gpu=True),
    *(_fixed(f"VM.GPU3.{n}", "NVIDIA_GPU", gpu=True) for n in (1, 2, 4, 8)),
    _fixed("VM.GPU.A10.1", "NVIDIA_GPU", gpu=True),
    _fixed("VM.GPU.A10.2", "NVIDIA_GPU", gpu=True),
    _fixed("BM.GPU.A10.4", "NVIDIA_GPU", gpu=True),
    _fixed("BM.GPU4.8", "NVIDIA_GPU", gpu=True),
    _fixed("BM.GPU.H100.8", "NVIDIA_GPU", gpu=True),
)

BY_NAME: dict[str, Shape] = {s.name: s for s in SHAPES}
SHAPE_NAMES: tuple[str, ...] = tuple(s.name for s in SHAPES)
FLEX_SHAPES: tuple[Shape, ...] = tuple(s for s in SHAPES if s.is_flex)
# Bounds over the whole catalog (the largest known flex shape).
MAX_OCPUS: float = max(s.flex.max_ocpus for s in FLEX_SHAPES if s.flex)
MAX_MEMORY_GBS: float = max(s.flex.max_memory_gbs for s in FLEX_SHAPES if s.flex)
# Plain OpenAPI bounds on the fields: generous, because a shape newer than this table may be larger;
# the known shapes' own ranges are CEL rules, and OCI judges the rest.
OCPUS_LIMIT = 1024.0
MEMORY_LIMIT_GBS = 65536.0


def get(name: str) -> Shape | None:
    return BY_NAME.get(name)


def is_flex(name: str) -> bool:
    """A flex shape is sized by ocpus and memoryInGBs; OCI names every one of them `*.Flex`."""
    return name.endswith(FLEX_SUFFIX)


def _fmt(value: float) -> str:
    return f"{value:g}"


def shape_problems(name: str, ocpus: float | None, memory_in_gbs: float | None) -> list[str]:
    """Why this shape configuration would be rejected; empty when it is fine.

    Messages match the CEL rules' messages so a user sees the same words either way. A name this
    table does not know is not a problem here: whether the compartment offers it is asked of OCI.
    """
    if not is_flex(name):
        if ocpus is not None or memory_in_gbs is not None:
            return [flex_only_message()]
        return []
    if ocpus is None or memory_in_gbs is None:
        return [flex_required_message()]
    problems = []
    shape = BY_NAME.get(name)
    if shape is not None and shape.flex is not None:
        r = shape.flex
        if not r.min_ocpus <= ocpus <= r.max_ocpus:
            problems.append(ocpu_range_message(shape))
        if not r.min_memory_gbs <= memory_in_gbs <= r.max_memory_gbs:
            problems.append(memory_range_message(shape))
    if memory_in_gbs > ocpus * MAX_MEMORY_GB_PER_OCPU:
        problems.append(memory_per_ocpu_message())
    return problems


def flex_only_message() -> str:
    return "ocpus and memoryInGBs can only be set with a flex shape (a shape name ending in .Flex)"


def flex_required_message() -> str:
    return "ocpus and memoryInGBs are required with a flex shape (a shape name ending in .Flex)"


def ocpu_range_message(shape: Shape) -> str:
    assert shape.flex is not None
    return f"{shape.name} takes {_fmt(shape.flex.min_ocpus)} to {_fmt(shape.flex.max_ocpus)} ocpus"


def memory_range_message(shape: Shape) -> str:
    assert shape.flex is not None
    r = shape.flex
    return f"{shape.name} takes {_fmt(r.min_memory_gbs)} to {_fmt(r.max_memory_gbs)} GB of memory"


def memory_per_ocpu_message() -> str:
    return f"memoryInGBs must be at most {_fmt(MAX_MEMORY_GB_PER_OCPU)} GB per OCPU"


def describe(name: str, ocpus: float | None, memory_in_gbs: float | None) -> str:
    """Human summary for status.shape, e.g. 'VM.Standard.E4.Flex (2 OCPU, 32 GB)'."""
    if ocpus is None or memory_in_gbs is None:
        return name
    return f"{name} ({_fmt(ocpus)} OCPU, {_fmt(memory_in_gbs)} GB)"
