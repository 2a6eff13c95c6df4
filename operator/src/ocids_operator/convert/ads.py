"""`ocids-operator convert ads JOB.yaml`: an ADS job YAML as TrainingJob + TrainingJobRun manifests.

The input is what ADS's `Job.to_yaml()` writes and `Job.from_yaml()` reads (oracle-ads,
`ads/jobs/ads_job.py`): `kind: job`, `spec.infrastructure` of type `dataScienceJob` and
`spec.runtime` of type script, python, gitPython, notebook or container, camelCase keys.
`convert` is pure: it maps what has a TrainingJob field, lists every other key in `skipped`
(never dropped silently), and validates the result with the API models. Reading files is left to
`main` (a local script or notebook is inlined when it is a small text file).
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..api import API_VERSION, TrainingJob, TrainingJobRun
from ..api.training_job import MAX_INLINE_BYTES

RUNTIME_TYPES = ("script", "python", "gitPython", "notebook", "container")
# A TrainingJobRun named <name>-1 must still be a valid name of at most 63 characters.
MAX_NAME_LENGTH = 61
DEFAULT_NAME = "ads-job"
_REMOTE_SCHEMES = ("oci://", "https://")


# The order a person writes a TrainingJob in (the converter fills the spec in the ADS document's order).
_SPEC_ORDER = (
    "compartmentId",
    "projectId",
    "displayName",
    "artifact",
    "entrypoint",
    "runtime",
    "outputs",
    "conda",
    "container",
    "jobType",
    "infrastructure",
    "env",
    "args",
    "maximumRuntimeInMinutes",
    "logging",
    "storageMounts",
    "freeformTags",
    "definedTags",
)


# ADS's DataScienceJob.standardize_spec: the infrastructure also takes snake_case and OCI payload names.
_INFRA_ALIASES = {
    "project_id": "projectId",
    "compartment_id": "compartmentId",
    "display_name": "displayName",
    "job_type": "jobType",
    "job_infrastructure_type": "jobInfrastructureType",
    "shape_name": "shapeName",
    "block_storage_size": "blockStorageSize",
    "block_storage_size_in_gbs": "blockStorageSize",
    "subnet_id": "subnetId",
    "shape_config_details": "shapeConfigDetails",
    "job_shape_config_details": "shapeConfigDetails",
    "log_id": "logId",
    "log_group_id": "logGroupId",
    "storage_mount": "storageMount",
    "freeform_tags": "freeformTags",
    "defined_tags": "definedTags",
    "memory_in_gbs": "memoryInGBs",
}


def _standardize(spec: Any, path: str, skipped: list[str]) -> Any:
    """The infrastructure spec with ADS's aliases as their camelCase key; of two spellings both set
    differently, the last is kept (as ADS reads them) and the other is listed in `skipped`."""
    if not isinstance(spec, Mapping):
        return spec
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in spec.items():
        camel = _INFRA_ALIASES.get(str(key).lower(), str(key))
        if value is None and camel in out:
            continue
        if out.get(camel) is not None and out[camel] != value:
            skipped.append(f"{path}.{spelled[camel]} ({key} is set too, and wins)")
        # Tags are the user's keys: only the shape's details are renamed inside.
        details = camel == "shapeConfigDetails"
        out[camel] = _standardize(value, f"{path}.{key}", skipped) if details else value
        spelled[camel] = str(key)
    return out


class NotAnAdsJob(ValueError):
    """The document is not an ADS Data Science job this converter reads (exit 2)."""


class ConversionError(ValueError):
    """The document is an ADS job, but no valid TrainingJob can be made from it (exit 2)."""


@dataclass(frozen=True)
class LocalFile:
    """A local path of the ADS YAML, as `main` found it: text to inline, or why it cannot be."""

    file_name: str
    content: str | None = None
    problem: str | None = None


LocalReader = Callable[[str], LocalFile]


@dataclass
class Conversion:
    """The manifests (TrainingJob, then TrainingJobRun) and each ADS key left out, with why."""

    manifests: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)


class _Section:
    """One mapping of the ADS document: keys are taken as they are mapped; what is left is skipped."""

    def __init__(self, path: str, value: Any, skipped: list[str]) -> None:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise NotAnAdsJob(f"{path} must be a mapping, not {type(value).__name__}")
        self.path = path
        self.rest = dict(value)
        self.skipped = skipped

    def take(self, key: str) -> Any:
        return self.rest.pop(key, None)

    def skip(self, key: str, reason: str) -> None:
        if self.rest.pop(key, None) is not None:
            self.skipped.append(f"{self.path}.{key} ({reason})")

    def finish(self) -> None:
        for key, value in self.rest.items():
            if value is not None and value != [] and value != {}:
                self.skipped.append(f"{self.path}.{key} (no TrainingJob field for it)")
        self.rest = {}


def kube_name(text: str) -> str:
    """A DNS-1123 label made from an ADS job name ("My Job" -> "my-job")."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:MAX_NAME_LENGTH].rstrip("-")
    return name or DEFAULT_NAME


def _is_remote(uri: str) -> bool:
    return uri.startswith(_REMOTE_SCHEMES)


def _number(value: Any, path: str) -> int | float:
    """ADS's schema has memoryInGBs as a string; 16 stays 16 rather than 16.0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConversionError(f"{path} must be a number, not {value!r}") from None
    return int(number) if number.is_integer() else number


def _int(value: Any, path: str) -> int:
    number = _number(value, path)
    if not isinstance(number, int):
        raise ConversionError(f"{path} must be a whole number, not {value!r}")
    return number


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _env(value: Any, path: str) -> list[dict[str, str]]:
    """ADS writes env as a list of {name, value}; `with_environment_variable(**kw)` in a dict form too."""
    if isinstance(value, Mapping):
        return [{"name": str(k), "value": "" if v is None else str(v)} for k, v in value.items()]
    env = []
    for item in value or []:
        if not isinstance(item, Mapping) or "name" not in item:
            raise ConversionError(f"{path}: each item needs a name and a value, got {item!r}")
        raw = item.get("value")
        env.append({"name": str(item["name"]), "value": "" if raw is None else str(raw)})
    return env


_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_MAX_DEPTH = 10


def _substitute(env: list[dict[str, str]]) -> list[dict[str, str]]:
    """ADS's env_var_parser: `${NAME}` takes the value of NAME from the same list, `$$` is `$`, an
    unknown name stays as written. ADS does this before it creates the job; OCI and the operator do
    not, so the converter does it."""
    raw = {item["name"]: item["value"] for item in env}

    def expand(text: str, depth: int) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            if name not in raw or depth >= _MAX_DEPTH:
                return match.group(0)
            return expand(raw[name], depth + 1)

        return _REFERENCE.sub(one, text)

    return [{"name": item["name"], "value": expand(item["value"], 0)} for item in env]


def _split_commas(value: Any) -> list[str]:
    """ADS's ContainerRuntimeHandler.split_args: a string entrypoint or cmd is a comma-separated list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value else []
    return _strings(value)


class _Converter:
    def __init__(self, doc: Mapping[str, Any], reader: LocalReader | None) -> None:
        self.doc = doc
        self.reader = reader
        self.skipped: list[str] = []
        self.tag_paths: dict[tuple[str, str], str] = {}  # where each tag converted was read
        self.spec: dict[str, Any] = {}

    # -- the document -------------------------------------------------------------------------

    def check_kind(self) -> tuple[_Section, _Section, str]:
        if not isinstance(self.doc, Mapping):
            raise NotAnAdsJob("the document is not a mapping")
        if self.doc.get("kind") != "job":
            raise NotAnAdsJob(f"kind is {self.doc.get('kind')!r}, an ADS job has kind: job")
        extra = set(self.doc) - {"kind", "spec", "apiVersion"}
        self.skipped.extend(f"{k} (no TrainingJob field for it)" for k in sorted(map(str, extra)))
        job = _Section("spec", self.doc.get("spec"), self.skipped)
        infra, runtime = job.take("infrastructure"), job.take("runtime")
        if not isinstance(infra, Mapping) or infra.get("type") != "dataScienceJob":
            kind = infra.get("type") if isinstance(infra, Mapping) else None
            raise NotAnAdsJob(
                f"spec.infrastructure.type is {kind!r}: only dataScienceJob (OCI Data Science Jobs) converts"
            )
        if not isinstance(runtime, Mapping) or runtime.get("type") not in RUNTIME_TYPES:
            kind = runtime.get("type") if isinstance(runtime, Mapping) else None
            raise NotAnAdsJob(f"spec.runtime.type is {kind!r}: one of {', '.join(RUNTIME_TYPES)} converts")
        name = job.take("name")
        job.skip("id", "the OCI job ADS created; set spec.adoptJobId to take it over")
        job.finish()
        for section in ("infrastructure", "runtime"):
            value = infra if section == "infrastructure" else runtime
            extra = set(value) - {"kind", "type", "spec", "apiVersion"}
            self.skipped.extend(f"spec.{section}.{k} (no TrainingJob field for it)" for k in sorted(extra))
        return (
            _Section(
                "spec.infrastructure.spec",
                _standardize(infra.get("spec"), "spec.infrastructure.spec", self.skipped),
                self.skipped,
            ),
            _Section("spec.runtime.spec", runtime.get("spec"), self.skipped),
            "" if name is None else str(name),
        )

    # -- infrastructure -----------------------------------------------------------------------

    def infrastructure(self, infra: _Section, job_name: str) -> None:
        spec = self.spec
        for key in ("compartmentId", "projectId"):
            value = infra.take(key)
            if value is None:
                raise ConversionError(
                    f"{infra.path}.{key} is required: ADS takes it from the notebook session, a "
                    "TrainingJob needs it written down"
                )
            spec[key] = value
        display = infra.take("displayName") or job_name
        if display:
            spec["displayName"] = str(display)
        compute: dict[str, Any] = {}
        shape = infra.take("shapeName")
        if shape is not None:
            compute["shape"] = shape
        size = _Section(f"{infra.path}.shapeConfigDetails", infra.take("shapeConfigDetails"), self.skipped)
        for key in ("ocpus", "memoryInGBs"):
            value = size.take(key)
            if value is not None:
                compute[key] = _number(value, f"{size.path}.{key}")
        size.finish()
        storage = infra.take("blockStorageSize")
        if storage is not None:
            compute["blockStorageSizeInGBs"] = _int(storage, f"{infra.path}.blockStorageSize")
        subnet = infra.take("subnetId")
        if subnet is not None:
            compute["subnetId"] = subnet
        spec["infrastructure"] = compute
        self._infrastructure_type(infra, subnet)
        job_type = infra.take("jobType")
        if job_type not in (None, "DEFAULT"):
            spec["jobType"] = job_type
        self._logging(infra)
        self._storage_mounts(infra)
        self._tags(infra)
        infra.finish()

    def _infrastructure_type(self, infra: _Section, subnet: Any) -> None:
        kind = infra.take("jobInfrastructureType")
        # The operator derives it from subnetId: STANDALONE with a subnet, ME_STANDALONE without.
        if kind == "STANDALONE" and subnet is None:
            self.skipped.append(
                f"{infra.path}.jobInfrastructureType (STANDALONE needs subnetId; "
                "without it the job uses the service-managed network, ME_STANDALONE)"
            )
        elif kind == "ME_STANDALONE" and subnet is not None:
            self.skipped.append(
                f"{infra.path}.jobInfrastructureType (ME_STANDALONE with subnetId: "
                "a TrainingJob with a subnet is STANDALONE)"
            )
        elif kind not in (None, "STANDALONE", "ME_STANDALONE"):
            self.skipped.append(
                f"{infra.path}.jobInfrastructureType ({kind}: use spec.nodes or "
                "infrastructure.computeTargetId in the TrainingJob)"
            )

    def _logging(self, infra: _Section) -> None:
        group, log = infra.take("logGroupId"), infra.take("logId")
        if group is None:
            if log is not None:
                self.skipped.append(f"{infra.path}.logId (needs logGroupId)")
            return
        logging: dict[str, Any] = {"enabled": True, "logGroupId": group}
        if log is not None:
            logging["logId"] = log
        else:  # ADS: with only a log group, OCI creates a log for each run
            logging["autoCreateLog"] = True
        self.spec["logging"] = logging

    def _storage_mounts(self, infra: _Section) -> None:
        mounts = []
        for i, item in enumerate(infra.take("storageMount") or []):
            path = f"{infra.path}.storageMount[{i}]"
            mount = self._storage_mount(item, path)
            if mount is not None:
                mounts.append(mount)
        if mounts:
            self.spec["storageMounts"] = mounts

    def _storage_mount(self, item: Any, path: str) -> dict[str, Any] | None:
        """ADS's DSCFileSystemManager: src oci://bucket@namespace/prefix, or <mountTargetId>:<exportId>
        (an IP address and export path need an OCI search, which a converter does not do)."""
        if not isinstance(item, Mapping) or not item.get("src") or not item.get("dest"):
            self.skipped.append(f"{path} (needs src and dest)")
            return None
        src, dest = str(item["src"]), str(item["dest"]).rstrip("/")
        mount: dict[str, Any] = {"destinationDirectoryName": posixpath.basename(dest)}
        parent = posixpath.dirname(dest)
        if parent:
            mount["destinationPath"] = parent
        match = re.fullmatch(r"oci://([^@/]+)@([^/]+)/?(.*)", src)
        if match:
            bucket, namespace, prefix = match.groups()
            mount.update(storageType="OBJECT_STORAGE", bucket=bucket, namespace=namespace)
            if prefix:
                mount["prefix"] = prefix
            return mount
        target, _, export = src.partition(":")
        if target.startswith("ocid1.mounttarget.") and export.startswith("ocid1.export."):
            mount.update(storageType="FILE_STORAGE", mountTargetId=target, exportId=export)
            return mount
        self.skipped.append(
            f"{path} (src {src!r}: write the file system as <mountTargetId>:<exportId> OCIDs)"
        )
        return None

    def _tags(self, section: _Section) -> None:
        for key in ("freeformTags", "definedTags"):
            value = section.take(key)
            if value is None or value == {}:
                continue
            if not isinstance(value, Mapping):
                self.skipped.append(f"{section.path}.{key} (not a mapping of tags)")
                continue
            tags = self.spec.setdefault(key, {})
            for tag, tag_value in value.items():
                # The runtime's (read last) wins, as before; the value it replaces is named.
                if tag in tags and tags[tag] != tag_value:
                    self.skipped.append(
                        f"{self.tag_paths[key, tag]} ({section.path}.{key} sets it too, and wins)"
                    )
                tags[tag] = tag_value
                self.tag_paths[key, tag] = f"{section.path}.{key}.{tag}"

    # -- runtime ------------------------------------------------------------------------------

    def runtime(self, runtime: _Section, kind: str) -> None:
        spec = self.spec
        env = runtime.take("env")
        if env:
            spec["env"] = _substitute(_env(env, f"{runtime.path}.env"))
        args = runtime.take("args")
        if args:
            spec["args"] = _strings(args)
        limit = runtime.take("maximumRuntimeInMinutes")
        if limit is not None:
            spec["maximumRuntimeInMinutes"] = _int(limit, f"{runtime.path}.maximumRuntimeInMinutes")
        self._tags(runtime)
        if kind != "container":
            self._conda(runtime)
        getattr(self, f"_runtime_{kind}")(runtime)
        runtime.finish()

    def _conda(self, runtime: _Section) -> None:
        conda = _Section(f"{runtime.path}.conda", runtime.take("conda"), self.skipped)
        kind = conda.take("type")
        if kind is None:
            conda.finish()
            return
        out: dict[str, Any] = {"type": kind}
        for key in ("slug", "uri", "region"):
            value = conda.take(key)
            if value is not None:
                out[key] = value
        conda.skip("authType", "the job run's resource principal reads a published conda environment")
        conda.finish()
        self.spec["conda"] = out

    def _artifact(self, section: _Section, key: str, *, required: bool) -> str | None:
        """scriptPathURI / notebookPathURI / source as artifact: a URL, or a small local text file
        inlined. Returns the artifact's file name."""
        uri = section.take(key)
        path = f"{section.path}.{key}"
        if uri is None:
            if required:
                raise ConversionError(f"{path} is required: it is the code the job runs")
            return None
        uri = str(uri)
        if _is_remote(uri):
            self.spec["artifact"] = {"url": uri}
            return posixpath.basename(uri.split("?", 1)[0].rstrip("/"))
        if "://" in uri and not uri.startswith("file://"):
            problem = "only oci:// and https:// URLs are fetched"
        else:
            local = (
                self.reader(uri.removeprefix("file://"))
                if self.reader
                else LocalFile(posixpath.basename(uri), problem="a local path")
            )
            if local.content is not None:
                self.spec["artifact"] = {"inline": {"fileName": local.file_name, "content": local.content}}
                return local.file_name
            problem = local.problem or "not readable"
        reason = f"{uri}: {problem}; upload it to Object Storage and use its oci:// URL"
        if required:
            raise ConversionError(f"{path} cannot be converted ({reason})")
        self.skipped.append(f"{path} ({reason})")
        return None

    def _outputs(self, runtime: _Section) -> None:
        uri, alt = runtime.take("outputUri"), runtime.take("outputURI")
        if uri and alt and uri != alt:
            self.skipped.append(f"{runtime.path}.outputURI (outputUri is set too, and wins)")
        uri = uri or alt
        directory = runtime.take("outputDir")
        if uri is None:
            if directory is not None:
                self.skipped.append(f"{runtime.path}.outputDir (without outputUri nothing is uploaded)")
            return
        outputs: dict[str, Any] = {"uri": uri}
        if directory is not None:
            outputs["directory"] = directory
        self.spec["outputs"] = outputs

    def _python(self, runtime: _Section, *, default_entrypoint: str | None = None) -> None:
        """ADS's _PythonRuntimeMixin. Its entrypoint and pythonPath are relative to workingDir, the
        driver's to the code, so they are joined. Without entryFunction ADS runs the entrypoint as
        a script, which is what a TrainingJob without runtime.python does."""
        working_dir = runtime.take("workingDir")
        entrypoint = runtime.take("entrypoint")
        function = runtime.take("entryFunction")
        python_path = _strings(runtime.take("pythonPath"))

        def in_code(p: str) -> str:
            return posixpath.normpath(posixpath.join(working_dir, p)) if working_dir else p

        if entrypoint is not None:
            self.spec["entrypoint"] = in_code(str(entrypoint))
        if function is None:
            why = "without entryFunction the entrypoint runs as a script, in the code's top directory"
            if python_path:
                self.skipped.append(f"{runtime.path}.pythonPath ({why}; set PYTHONPATH in env)")
            if working_dir:
                self.skipped.append(f"{runtime.path}.workingDir ({why})")
        else:
            if entrypoint is None and default_entrypoint is not None:
                self.spec["entrypoint"] = default_entrypoint
            python: dict[str, Any] = {"function": str(function)}
            if python_path:
                python["pythonPath"] = [in_code(p) for p in python_path]
            if working_dir:
                python["workingDir"] = str(working_dir)
            self.spec["runtime"] = {"python": python}
        self._outputs(runtime)

    def _runtime_script(self, runtime: _Section) -> None:
        self._artifact(runtime, "scriptPathURI", required=True)
        entrypoint = runtime.take("entrypoint")
        if entrypoint is not None:
            self.spec["entrypoint"] = str(entrypoint)

    def _runtime_python(self, runtime: _Section) -> None:
        file_name = self._artifact(runtime, "scriptPathURI", required=True)
        single = file_name if file_name and file_name.endswith(".py") else None
        self._python(runtime, default_entrypoint=single)

    def _runtime_gitPython(self, runtime: _Section) -> None:
        url = runtime.take("url")
        if url is None:
            raise ConversionError(f"{runtime.path}.url is required: the Git repository")
        branch, commit = runtime.take("branch"), runtime.take("commit")
        git: dict[str, Any] = {"url": str(url)}
        if commit is not None:
            git["ref"] = str(commit)
            if branch is not None:
                self.skipped.append(f"{runtime.path}.branch ({branch}: the commit pins the code)")
        else:  # ADS clones the default branch: the remote's HEAD
            git["ref"] = str(branch) if branch is not None else "HEAD"
        self.spec["artifact"] = {"git": git}
        runtime.skip(
            "gitSecretId",
            "a Vault secret with an SSH key: put a token in a Secret named by artifact.git.secretRef",
        )
        runtime.skip("skipMetadataUpdate", "the operator records the commit in status.artifact")
        if runtime.rest.get("entrypoint") is None:
            raise ConversionError(f"{runtime.path}.entrypoint is required: the file to run in the repository")
        self._python(runtime)

    def _runtime_notebook(self, runtime: _Section) -> None:
        source = runtime.rest.get("source")
        notebook: dict[str, Any] = {}
        if source is not None:  # a directory of code with the notebook in it
            self._artifact(runtime, "source", required=True)
            entrypoint = runtime.take("entrypoint")
            if entrypoint is None:
                raise ConversionError(f"{runtime.path}.entrypoint is required with source: the notebook")
            notebook["path"] = str(entrypoint)
            runtime.skip("notebookPathURI", "source and entrypoint name the notebook")
        else:
            file_name = self._artifact(runtime, "notebookPathURI", required=True)
            notebook["path"] = file_name
        tags = _strings(runtime.take("excludeTags"))
        if tags:
            notebook["excludeTags"] = tags
        encoding = runtime.take("notebookEncoding")
        if encoding is not None:
            notebook["encoding"] = str(encoding)
        self.spec["runtime"] = {"notebook": notebook}
        self._outputs(runtime)

    def _runtime_container(self, runtime: _Section) -> None:
        image = runtime.take("image")
        if image is None:
            raise ConversionError(f"{runtime.path}.image is required")
        container: dict[str, Any] = {"image": str(image)}
        command, cmd = _split_commas(runtime.take("entrypoint")), _split_commas(runtime.take("cmd"))
        if command:
            container["command"] = command
        if cmd:
            container["args"] = cmd
        for key in ("imageDigest", "imageSignatureId"):
            value = runtime.take(key)
            if value is not None:
                container[key] = str(value)
        self.spec["container"] = container
        replicas = runtime.take("replicas")
        if replicas not in (None, 1):
            self.skipped.append(
                f"{runtime.path}.replicas ({replicas} nodes: write spec.nodes with a node group)"
            )
        self._artifact(runtime, "scriptPathURI", required=False)
        for key in ("conda",):
            runtime.skip(key, "a container job runs its image, not a conda environment")


def convert(
    doc: Mapping[str, Any],
    name: str | None = None,
    namespace: str | None = None,
    *,
    read_local: LocalReader | None = None,
) -> Conversion:
    """The TrainingJob and its first TrainingJobRun for an ADS job document.

    Raises NotAnAdsJob for a document that is not an ADS Data Science job, ConversionError when the
    manifests would not be valid (the message names the field). `read_local` reads a local
    scriptPathURI / notebookPathURI; without it such a path cannot be converted.
    """
    conv = _Converter(doc, read_local)
    infra, runtime, job_name = conv.check_kind()
    runtime_type = str(doc["spec"]["runtime"]["type"])
    conv.infrastructure(infra, job_name)
    conv.runtime(runtime, runtime_type)
    resource = name or kube_name(job_name)
    metadata: dict[str, Any] = {"name": resource}
    if namespace:
        metadata["namespace"] = namespace
    spec = {key: conv.spec[key] for key in _SPEC_ORDER if key in conv.spec}
    job = {"apiVersion": API_VERSION, "kind": "TrainingJob", "metadata": metadata, "spec": spec}
    run = {
        "apiVersion": API_VERSION,
        "kind": "TrainingJobRun",
        "metadata": {**metadata, "name": f"{resource}-1"},
        "spec": {"jobRef": {"name": resource}},
    }
    _validate(TrainingJob, job)
    _validate(TrainingJobRun, run)
    return Conversion(manifests=[job, run], skipped=conv.skipped)


def _validate(model: type[TrainingJob] | type[TrainingJobRun], manifest: dict[str, Any]) -> None:
    try:
        model.model_validate(manifest)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ConversionError(f"the converted {manifest['kind']} is not valid: {problems}") from None


def file_reader(*bases: Path) -> LocalReader:
    """Reads a local artifact path as ADS does (relative to the current directory), else relative to
    the YAML file's directory: a text file up to the inline limit is inlined."""

    def read(raw: str) -> LocalFile:
        name = posixpath.basename(raw.rstrip("/")) or raw
        candidates = [Path(raw)] if os.path.isabs(raw) else [base / raw for base in bases]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            return LocalFile(name, problem="no such local file")
        if found.is_dir():
            return LocalFile(name, problem="a local directory: zip it")
        data = found.read_bytes()
        if len(data) > MAX_INLINE_BYTES:
            return LocalFile(name, problem=f"{len(data)} bytes, more than the {MAX_INLINE_BYTES} inline")
        try:
            return LocalFile(name, content=data.decode("utf-8"))
        except UnicodeDecodeError:
            return LocalFile(name, problem="not a text file (an archive is not inlined)")

    return read


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Print a TrainingJob and a TrainingJobRun for an ADS job YAML (Job.to_yaml()); "
        "what cannot be converted is listed on stderr.",
    )
    parser.add_argument("file", help="the ADS job YAML, or - for stdin")
    parser.add_argument("--name", help="name of the TrainingJob (default: from spec.name)")
    parser.add_argument("--namespace", "-n", help="namespace to put in the manifests")
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "ocids-operator convert ads") -> int:
    """Exit 0 with the manifests on stdout; 2 for a document that does not convert (stderr says why)."""
    args = _parser(prog).parse_args(argv)
    try:
        if args.file == "-":
            text, bases = sys.stdin.read(), [Path.cwd()]
        else:
            source = Path(args.file)
            text, bases = source.read_text(encoding="utf-8"), [Path.cwd(), source.parent]
        doc = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        print(f"ocids: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.name is not None and kube_name(args.name) != args.name:
        print(
            f"ocids: --name {args.name!r} is not a Kubernetes name (try {kube_name(args.name)!r})",
            file=sys.stderr,
        )
        return 2
    try:
        result = convert(doc, args.name, args.namespace, read_local=file_reader(*bases))
    except NotAnAdsJob as exc:
        print(f"ocids: not an ADS Data Science job: {exc}", file=sys.stderr)
        return 2
    except ConversionError as exc:
        print(f"ocids: {exc}", file=sys.stderr)
        return 2
    for line in result.skipped:
        print(f"ocids: not converted: {line}", file=sys.stderr)
    sys.stdout.write(yaml.safe_dump_all(result.manifests, sort_keys=False, width=120))
    return 0
