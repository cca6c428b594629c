#!/bin/bash
# Init container of Kibana: the image's config directory copied to the pod's writable one, the
# role's kibana.yml with the kibana_system password and the encryption keys (files of the
# mounted Secret) appended; the values never pass through the environment or the pod spec.
set -euo pipefail
secrets=/etc/kibana-secrets
cp -a /usr/share/kibana/config/. /mnt/config/
{
  cat /etc/kibana-template/kibana.yml
  printf 'elasticsearch.password: "%s"\n' "$(cat "$secrets/kibana-system")"
  key=$(cat "$secrets/kibana-encryption-key")
  printf 'xpack.security.encryptionKey: "%s"\n' "$key"
  printf 'xpack.encryptedSavedObjects.encryptionKey: "%s"\n' "$key"
  printf 'xpack.reporting.encryptionKey: "%s"\n' "$key"
} >/mnt/config/kibana.yml
chmod 0600 /mnt/config/kibana.yml
