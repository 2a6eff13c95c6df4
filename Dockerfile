# The operator image: python:3.11-slim, the operator installed from this repository, non-root.
# `make image` builds it (docker, else buildah; see tools/image/build.sh). Plain `docker build .`
# works too.
#
# The base is pinned by digest (the multi-arch index of python:3.11-slim): a rebuild gets the same
# base until this line is changed on purpose. Without a registry, build.sh passes the name of a
# local stand-in instead (tools/image/README.md).
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Set only by builds behind a TLS-intercepting proxy (build.sh passes the host's CA bundle path).
ARG PIP_CERT
WORKDIR /src
# Dependencies first, in their own layer: a source-only change rebuilds in seconds. Every package
# and version is pinned with its hashes (tools/image/lock.sh writes the lock from pyproject).
COPY tools/image/requirements.lock /opt/image-tools/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r /opt/image-tools/requirements.lock
# Every package pyproject's wheel lists (.dockerignore admits exactly those sources: a new one under
# tools/<x>/ocids_<y> needs no edit here); prune_venv.py removes all but the operator again.
COPY README.md ./
COPY operator ./operator
COPY emulator ./emulator
COPY tools ./tools
COPY pyproject.toml ./
# The project's own wheel is built with hatchling in pip's isolated build environment; the backend
# does not enter the image.
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/python tools/image/prune_venv.py

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="ocids-operator" \
      org.opencontainers.image.description="Run OCI Data Science Jobs as Kubernetes resources" \
      org.opencontainers.image.licenses="Apache-2.0"
# The root filesystem is read-only in the chart: bytecode was compiled at install, HOME is the
# writable /tmp emptyDir.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
# A named entry for the fixed UID (getpass/`id` work); written directly, since useradd is not in
# every base. Numeric USER so Kubernetes' runAsNonRoot can verify it (the chart uses 10001 too).
RUN echo 'ocids:x:10001:10001:ocids-operator:/tmp:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'ocids:x:10001:' >> /etc/group
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["ocids-operator"]
