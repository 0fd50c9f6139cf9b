# Sourced by the benchmark scripts: `need COMMAND DEBIAN_PACKAGE` makes sure a peer tool is there,
# installing its Debian package when running as root with apt-get, and otherwise stopping with
# the command that would install it.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "$1 not found; installing the Debian package $2" >&2
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; then
            command -v "$1" >/dev/null 2>&1 && return 0
        fi
    fi
    echo "error: $1 is missing: install it (Debian/Ubuntu: sudo apt-get install -y $2) and run again" >&2
    exit 2
}
