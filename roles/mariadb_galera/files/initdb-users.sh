#!/bin/bash
# Sourced by the MariaDB image's docker-entrypoint.sh once, when it initialises an empty data
# directory (on the member that bootstraps a new cluster; joiners receive the result by SST).
# Creates the platform's service accounts; the passwords are files of the mounted Secret
# (*_PASSWORD_FILE), generated as letters and digits, so they need no SQL quoting.
sst_password=$(<"$GALERA_SST_PASSWORD_FILE")
exporter_password=$(<"$MARIADB_EXPORTER_PASSWORD_FILE")
backup_password=$(<"$MARIADB_BACKUP_PASSWORD_FILE")
restore_password=$(<"$MARIADB_RESTORE_PASSWORD_FILE")
docker_process_sql --database=mysql <<-EOSQL
	CREATE USER IF NOT EXISTS 'mariabackup'@'localhost' IDENTIFIED BY '${sst_password}';
	GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO 'mariabackup'@'localhost';
	CREATE USER IF NOT EXISTS 'exporter'@'127.0.0.1' IDENTIFIED BY '${exporter_password}' WITH MAX_USER_CONNECTIONS 3;
	GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO 'exporter'@'127.0.0.1';
	CREATE USER IF NOT EXISTS 'backup'@'%' IDENTIFIED BY '${backup_password}';
	GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, PROCESS, BINLOG MONITOR ON *.* TO 'backup'@'%';
	CREATE USER IF NOT EXISTS 'restore'@'%' IDENTIFIED BY '${restore_password}';
	GRANT ALL PRIVILEGES ON \`${MARIADB_DATABASE}\`.* TO 'restore'@'%';
EOSQL
unset sst_password exporter_password backup_password restore_password
