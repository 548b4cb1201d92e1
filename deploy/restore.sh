#!/usr/bin/env bash
# Restore a backup made by backup.sh into DATABASE_URL and MEDIA_ROOT.
#
#   systemctl stop facerec-web facerec-worker              # nothing may write meanwhile
#   set -a; . /etc/facerec/facerec.env; set +a
#   deploy/restore.sh /var/backups/facerec/facerec-20260101T000000Z
#   systemctl start facerec-web facerec-worker
#
# The target database must exist (empty, or a facerec database: its objects are dropped and
# replaced, in one transaction, so a failed restore changes nothing). The role needs the right to
# create the `vector` extension if the database lacks it. The current MEDIA_ROOT, if any, is kept
# beside it as MEDIA_ROOT.before-restore-<time> until you delete it.
set -euo pipefail
umask 027
: "${DATABASE_URL:?DATABASE_URL is not set (load /etc/facerec/facerec.env first)}"
: "${MEDIA_ROOT:?MEDIA_ROOT is not set (load /etc/facerec/facerec.env first)}"
src="${1:?usage: restore.sh BACKUP_DIR}"
source "$(dirname "$0")/pg_tools.sh"
pg_restore="$(pg_tool pg_restore)"

[[ -f "$src/db.dump" && -f "$src/media.tar" ]] || { echo "restore.sh: $src has no db.dump/media.tar" >&2; exit 1; }
if [[ -f "$src/SHA256SUMS" ]]; then
    (cd "$src" && sha256sum --check --quiet SHA256SUMS) || { echo "restore.sh: checksum mismatch in $src" >&2; exit 1; }
fi
started=$(date +%s)

"$pg_restore" --clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error \
    --dbname="$DATABASE_URL" "$src/db.dump"

media_root="${MEDIA_ROOT%/}"
staging="$media_root.restoring-$$"
mkdir -p "$staging"
tar --extract --file="$src/media.tar" --directory="$staging" --no-same-owner
if [[ -e "$media_root" ]]; then
    previous="$media_root.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
    mv "$media_root" "$previous"
    echo "restore.sh: previous media kept in $previous" >&2
fi
mv "$staging" "$media_root"

echo "restored $src into the database and $media_root in $(( $(date +%s) - started ))s" >&2
