# The operator image: python:3.11-slim, the operator installed from this repository, non-root.
# `make image` builds it (docker, else buildah; see tools/image/build.sh). Plain `docker build .`
# works too.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Set only by builds behind a TLS-intercepting proxy (build.sh passes the host's CA bundle path).
ARG PIP_CERT
WORKDIR /src
# Dependencies first, in their own layer: a source-only change rebuilds in seconds.
COPY pyproject.toml ./
COPY tools/image/requirements.py /opt/image-tools/
RUN python -m venv /opt/venv \
 && python /opt/image-tools/requirements.py pyproject.toml > /tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt
# Every package pyproject's wheel lists (.dockerignore admits exactly those sources: a new one under
# tools/<x>/ocids_<y> needs no edit here); prune_venv.py removes all but the operator again.
COPY README.md ./
COPY operator ./operator
COPY emulator ./emulator
COPY tools ./tools
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/python tools/image/prune_venv.py

FROM python:3.11-slim
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
