#!/bin/bash
# Init container of the Elasticsearch nodes: the image's config directory (jvm.options,
# log4j2.properties) copied to the pod's writable one, with the role's elasticsearch.yml.
set -euo pipefail
cp -a /usr/share/elasticsearch/config/. /mnt/config/
cp /etc/elasticsearch-template/elasticsearch.yml /mnt/config/elasticsearch.yml
