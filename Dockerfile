# hearth in a container: build on Debian bookworm, run the daemon on the bundled-model layout.
#   docker build -t hearth .
#   docker run --rm -p 127.0.0.1:8080:8080 -v /path/to/models:/models hearth serve -m /models/x.gguf --host 0.0.0.0
# Inside the container the daemon must listen on 0.0.0.0 to be reachable through the port
# mapping; publishing on 127.0.0.1 (as above) keeps it private to the host.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup
COPY . .
RUN cmake --preset release -DHEARTH_TESTS=OFF && cmake --build --preset release -j"$(nproc)"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libopenblas0-pthread libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/server/hearth /usr/local/bin/hearth
RUN useradd --system --no-create-home hearth
USER hearth
ENTRYPOINT ["hearth"]
CMD ["--help"]
