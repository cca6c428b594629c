#!/bin/bash
# STAND-IN for the official MariaDB image's /usr/local/bin/docker-entrypoint.sh, used only by
# the live Galera harness (tests/galera_live). It is NOT the image's script and does only what
# roles/mariadb_galera relies on (see README.md next to it):
#   1. MARIADB_ROOT_PASSWORD_FILE / MARIADB_PASSWORD_FILE are read into the variables;
#   2. an empty data directory is initialised (mariadb-install-db with the server arguments),
#      a temporary server without networking and without wsrep sets the root@localhost
#      password, creates MARIADB_DATABASE and MARIADB_USER@'%', and sources every *.sh of
#      /docker-entrypoint-initdb.d with docker_process_sql defined; it is then shut down;
#   3. the password variables are unset and the server command is exec'd.
# Everything else the image's script does (gosu, *.sql(.gz) init files, time zones, upgrades,
# healthcheck users, replication set-up) is left out.
set -eo pipefail

note() { printf '%s [Note] [Entrypoint stand-in]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

from_file() {
  local file_var="${1}_FILE"
  if [[ -n ${!file_var:-} ]]; then
    printf -v "$1" '%s' "$(<"${!file_var}")"
    export "${1?}"
  fi
}

server_option() {
  # The value mariadbd itself would use (config files and the arguments): mariadbd --verbose --help.
  "$@" --verbose --help 2>/dev/null | awk -v want="$OPTION" '/^[^ \t]/ && $1 == want { print $2; exit }'
}

docker_process_sql() {
  MYSQL_PWD=${MARIADB_ROOT_PASSWORD:-} mariadb --protocol=socket --socket="$SOCKET" -uroot --binary-mode "$@"
}

init_database() {
  local pid i
  note "initialising the data directory $DATADIR"
  mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal "${@:2}" \
    --skip-test-db --skip-log-bin --expire-logs-days=0 >&2
  "$@" --skip-networking --socket="$SOCKET" --wsrep_on=OFF --skip-log-bin >&2 &
  pid=$!
  for i in $(seq 60); do
    MYSQL_PWD="" mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { note "the temporary server died"; exit 1; }
    sleep 0.5
  done
  MYSQL_PWD="" mariadb --protocol=socket --socket="$SOCKET" -uroot --binary-mode <<-EOSQL
	SET @@SESSION.SQL_LOG_BIN=0;
	SET PASSWORD FOR 'root'@'localhost' = PASSWORD('${MARIADB_ROOT_PASSWORD}');
	CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;
	CREATE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD}';
	GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '${MARIADB_USER}'@'%';
	EOSQL
  local file
  for file in /docker-entrypoint-initdb.d/*.sh; do
    [[ -e $file ]] || continue
    note "sourcing $file"
    # shellcheck disable=SC1090
    . "$file"
  done
  MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb-admin --protocol=socket --socket="$SOCKET" -uroot shutdown
  wait "$pid" || true
  note "data directory initialised"
}

if [[ ${1:-} == mariadbd ]]; then
  from_file MARIADB_ROOT_PASSWORD
  from_file MARIADB_PASSWORD
  DATADIR=$(OPTION=datadir server_option "$@")
  SOCKET=$(OPTION=socket server_option "$@")
  if [[ ! -d $DATADIR/mysql ]]; then
    init_database "$@"
  fi
  unset MARIADB_ROOT_PASSWORD MARIADB_PASSWORD MARIADB_ROOT_PASSWORD_FILE MARIADB_PASSWORD_FILE
fi
exec "$@"
