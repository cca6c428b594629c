-- One application database and its owner, idempotently: run by psql as a superuser, once per
-- entry of postgresql_databases, with the variables dbname, owner, password_file (a file holding
-- the owner's password, the mounted Secret), encoding, lc_collate and lc_ctype.
-- Every statement runs only when the state differs, so a second run changes nothing; an existing
-- password is never replaced (a rotation is an explicit operation: ALTER ROLE ... PASSWORD).
\set ON_ERROR_STOP on
\set QUIET on
\set password `cat :'password_file'`

-- The owner: a login role that can do nothing outside its own database.
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'owner', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', rolname)
  FROM pg_roles
 WHERE rolname = :'owner'
   AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls) \gexec
-- A role made without a password (CloudNativePG's initdb makes the first owner with one) gets it.
SELECT format('ALTER ROLE %I PASSWORD %L', rolname, :'password')
  FROM pg_authid
 WHERE rolname = :'owner' AND rolpassword IS NULL \gexec

-- The database, from template0 so that its encoding and locale are its own (fixed at creation).
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L',
              :'dbname', :'owner', :'encoding', :'lc_collate', :'lc_ctype')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', datname, :'owner')
  FROM pg_database
 WHERE datname = :'dbname' AND datdba <> (SELECT oid FROM pg_roles WHERE rolname = :'owner') \gexec

-- Nobody but the owner (and superusers) connects or makes temporary tables: PUBLIC's default
-- CONNECT and TEMPORARY are revoked (a NULL ACL means the defaults, which include them).
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', datname)
  FROM pg_database
 WHERE datname = :'dbname'
   AND (datacl IS NULL
        OR EXISTS (SELECT FROM aclexplode(datacl) AS acl
                    WHERE acl.grantee = 0 AND acl.privilege_type IN ('CONNECT', 'TEMPORARY'))) \gexec

-- A database made before with other settings is not changed (that needs a dump and restore):
-- the run stops with an error that says so.
SELECT format('DO $mismatch$ BEGIN RAISE EXCEPTION %L; END $mismatch$',
              format('database %s exists with encoding %s, collation %s, ctype %s; wanted %s, %s, %s',
                     datname, pg_encoding_to_char(encoding), datcollate, datctype,
                     pg_encoding_to_char(pg_char_to_encoding(:'encoding')), :'lc_collate', :'lc_ctype'))
  FROM pg_database
 WHERE datname = :'dbname'
   AND (encoding <> pg_char_to_encoding(:'encoding') OR datcollate <> :'lc_collate' OR datctype <> :'lc_ctype') \gexec
