#!/usr/bin/env bash
# Back up facerec: the database (pg_dump custom format) and the face photos under MEDIA_ROOT.
#
#   set -a; . /etc/facerec/facerec.env; set +a        # DATABASE_URL, MEDIA_ROOT
#   deploy/backup.sh [DEST]                             # default: $BACKUP_DIR (./backups)/facerec-<UTC time>
#
# DEST gets db.dump, media.tar, MANIFEST and SHA256SUMS; its path is the last line printed.
# Safe while the service runs: pg_dump reads one consistent snapshot, and photo files are
# content-addressed and never rewritten. A photo added between the dump and the tar is an extra
# file (harmless); one deleted in that window is missing from media.tar (its row is in the dump):
# for a point-in-time pair, stop facerec-worker and the admin first.
set -euo pipefail
umask 077
: "${DATABASE_URL:?DATABASE_URL is not set (load /etc/facerec/facerec.env first)}"
: "${MEDIA_ROOT:?MEDIA_ROOT is not set (load /etc/facerec/facerec.env first)}"
source "$(dirname "$0")/pg_tools.sh"
pg_dump="$(pg_tool pg_dump)"

dest="${1:-${BACKUP_DIR:-backups}/facerec-$(date -u +%Y%m%dT%H%M%SZ)}"
if [[ -e "$dest" && -n "$(ls -A "$dest" 2>/dev/null)" ]]; then
    echo "backup.sh: $dest exists and is not empty" >&2; exit 1
fi
mkdir -p "$dest"
started=$(date +%s)

# --no-owner/--no-privileges: restorable by whichever role owns the target database.
"$pg_dump" --format=custom --compress=6 --no-owner --no-privileges \
    --file="$dest/db.dump" --dbname="$DATABASE_URL"

if [[ -d "$MEDIA_ROOT" ]]; then
    # JPEGs do not compress: a plain tar is as small and much faster.
    tar --create --file="$dest/media.tar" --directory="$MEDIA_ROOT" .
    media_files=$(find "$MEDIA_ROOT" -type f | wc -l)
else
    echo "backup.sh: MEDIA_ROOT $MEDIA_ROOT does not exist; backing up no photos" >&2
    tar --create --file="$dest/media.tar" --files-from=/dev/null
    media_files=0
fi

{
    echo "created_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "pg_dump=$("$pg_dump" --version)"
    echo "media_files=$media_files"
    echo "db_dump_bytes=$(stat -c %s "$dest/db.dump")"
    echo "media_tar_bytes=$(stat -c %s "$dest/media.tar")"
    echo "seconds=$(( $(date +%s) - started ))"
} > "$dest/MANIFEST"
(cd "$dest" && sha256sum db.dump media.tar > SHA256SUMS)
cat "$dest/MANIFEST" >&2
echo "$dest"
