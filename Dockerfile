# The mysqlinstance-operator image: the static musl binary and nothing else.
#
#   rustup target add x86_64-unknown-linux-musl      # once; C dependencies need musl-gcc (Debian: musl-tools)
#   CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked \
#       --target x86_64-unknown-linux-musl --bin mysqlinstance-operator
#   docker build -t REGISTRY/mysqlinstance-operator:0.1.0 .
#   docker push REGISTRY/mysqlinstance-operator:0.1.0
#
# Then set that image in deploy/operator.yaml (see deploy/README.md). tests/images/build.sh packs the same image
# without a container engine; tests/images/check-dockerfile.py keeps the two equal.
FROM scratch
COPY target/x86_64-unknown-linux-musl/release/mysqlinstance-operator /mysqlinstance-operator
USER 65532:65532
ENTRYPOINT ["/mysqlinstance-operator"]
CMD ["run"]
