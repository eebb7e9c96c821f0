#!/usr/bin/env bash
# Write the secrets docker-compose.yml reads, from one random database password:
#   deploy/secrets/postgres_password   PostgreSQL's password (Docker secret, POSTGRES_PASSWORD_FILE)
#   deploy/secrets/annotator_db_url    mer-annotator's database URL (ANNOTATOR_DB_URL_FILE)
#   deploy/secrets/labelstudio.env     Label Studio's env file: database password, first admin
# Files are 0600 and git-ignored (deploy/.gitignore). Existing files are kept (rerun safely);
# --force makes new ones (then also reset the password inside PostgreSQL, or drop its volume).
# Nothing is printed but the file names and the admin e-mail: read the files to get the secrets.
set -euo pipefail
cd "$(dirname "$0")"
DIR=secrets
ADMIN="${LABEL_STUDIO_ADMIN:-admin@example.com}"
if [ -e "$DIR/postgres_password" ] && [ "${1:-}" != "--force" ]; then
  echo "make-secrets: $DIR/ exists; keeping it (--force to replace)" >&2
  exit 0
fi
umask 077
mkdir -p "$DIR"
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
PW="$(rand)"
printf '%s' "$PW" >"$DIR/postgres_password"
printf 'postgresql+psycopg://annotator:%s@postgres:5432/annotator\n' "$PW" >"$DIR/annotator_db_url"
cat >"$DIR/labelstudio.env" <<ENV
POSTGRE_PASSWORD=$PW
LABEL_STUDIO_USERNAME=$ADMIN
LABEL_STUDIO_PASSWORD=$(rand)
ENV
chmod 600 "$DIR"/*
echo "make-secrets: wrote $DIR/postgres_password, $DIR/annotator_db_url, $DIR/labelstudio.env" \
  "(Label Studio admin: $ADMIN; password in $DIR/labelstudio.env)" >&2
