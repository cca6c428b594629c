#!/bin/bash
# Sourced by the MariaDB image's docker-entrypoint.sh once, when it initialises an empty data
# directory (on the member that bootstraps a new cluster; joiners receive the result by SST).
# Creates the platform's service accounts; the passwords come from Secrets through the env.
docker_process_sql --database=mysql <<-EOSQL
	CREATE USER IF NOT EXISTS 'mariabackup'@'localhost' IDENTIFIED BY '${GALERA_SST_PASSWORD}';
	GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'mariabackup'@'localhost';
	CREATE USER IF NOT EXISTS 'exporter'@'127.0.0.1' IDENTIFIED BY '${MARIADB_EXPORTER_PASSWORD}' WITH MAX_USER_CONNECTIONS 3;
	GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO 'exporter'@'127.0.0.1';
	CREATE USER IF NOT EXISTS 'backup'@'%' IDENTIFIED BY '${MARIADB_BACKUP_PASSWORD}';
	GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, PROCESS, BINLOG MONITOR ON *.* TO 'backup'@'%';
	CREATE USER IF NOT EXISTS 'restore'@'%' IDENTIFIED BY '${MARIADB_RESTORE_PASSWORD}';
	GRANT ALL PRIVILEGES ON \`${MARIADB_DATABASE}\`.* TO 'restore'@'%';
EOSQL
