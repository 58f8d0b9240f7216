# hearth in a container: a bookworm build stage, then a slim runtime stage holding the binary and
# the libraries it links (OpenBLAS for `hearth bench --limits`; the C++ runtime comes with Debian).
#
#   docker build -t hearth .
#   docker run -d -p 127.0.0.1:8080:8080 -v /path/to/models:/models:ro \
#     -e HEARTH_MODEL=/models/model.gguf -e HEARTH_API_KEY=some-long-secret hearth
#
# Inside the container the daemon listens on 0.0.0.0 (the port mapping cannot reach a loopback
# listener), so it requires an API key: the entrypoint refuses to start without HEARTH_API_KEY.
# Publishing on 127.0.0.1 as above still keeps the port private to the host. Other settings come
# from HEARTH_* variables or arguments after the image name (`hearth serve --help` lists them).
#
# BASE is any Debian bookworm image: debian:bookworm-slim from a registry, or one made offline
# with debootstrap (scripts/docker-smoke does that). The build targets baseline x86-64: the SIMD
# kernels are picked at run time, so the image runs on any x86-64 machine.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup
COPY CMakeLists.txt CMakePresets.json ./
COPY config config
COPY engine engine
COPY proto proto
COPY server server
RUN cmake --preset release -DHEARTH_TESTS=OFF >/dev/null \
    && cmake --build --preset release -j"$(nproc)" --target hearth \
    && strip build/release/server/hearth

FROM ${BASE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopenblas0-pthread >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hearth \
    && mkdir -p /models
COPY --from=build /src/build/release/server/hearth /usr/local/bin/hearth
COPY scripts/container-entrypoint /usr/local/bin/hearth-entrypoint
USER hearth
VOLUME /models
EXPOSE 8080
ENV HEARTH_MODEL=/models/model.gguf HEARTH_PORT=8080
# The built-in probe (no curl in the image); it follows HEARTH_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 CMD ["hearth", "health"]
ENTRYPOINT ["hearth-entrypoint"]
