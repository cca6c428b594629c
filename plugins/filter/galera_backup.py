# -*- coding: utf-8 -*-
# Copyright: orchestrate.platform developers
# Apache License 2.0 (see LICENSE)
"""The restore Job of playbooks/restore.yml, built from the backup CronJob's job template.

- orchestrate.platform.galera_restore_job_spec(job_spec, backup): the Job spec that restores
  `backup` (a file name or "latest") with restore.sh, from either target. The template is that
  of roles/mariadb_galera's backup CronJob: its dump container (named backup) carries the
  image, the database addresses, the mounted passwords and the volumes. With the pvc target it
  is the only container and restore.sh reads the backup volume. With the gcs target the dump is
  an init container followed by an upload container; the restore then downloads the backup
  from the bucket first (the upload container's image, key and settings running
  backup-download.sh into the pod's scratch volume), then restore.sh reads it there.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

Obj = Dict[str, Any]
RESTORE = ["/bin/bash", "/opt/backup/restore.sh"]
DOWNLOAD = ["/bin/sh", "/opt/backup/backup-download.sh"]


def _named(containers: Optional[List[Obj]], name: str) -> Optional[Obj]:
    return next((c for c in containers or [] if c.get("name") == name), None)


def galera_restore_job_spec(job_spec: Obj, backup: str) -> Obj:
    """A copy of the backup job template's spec that restores `backup` and never retries."""
    spec = copy.deepcopy(job_spec)
    pod = spec.get("template", {}).get("spec", {})
    dump = _named(pod.get("initContainers"), "backup") or _named(pod.get("containers"), "backup")
    if dump is None:
        raise ValueError("the backup job template has no container named backup")
    restore = dict(dump, name="restore", command=RESTORE + [backup])
    upload = _named(pod.get("containers"), "upload")
    if upload is not None:
        mounts = [dict(m, readOnly=False) if m.get("mountPath") == "/backup" else m for m in upload.get("volumeMounts", [])]
        pod["initContainers"] = [dict(upload, name="download", command=DOWNLOAD + [backup], volumeMounts=mounts)]
    else:
        pod.pop("initContainers", None)
    pod["containers"] = [restore]
    spec["backoffLimit"] = 0
    return spec


class FilterModule:
    def filters(self) -> Dict[str, Any]:
        return {"galera_restore_job_spec": galera_restore_job_spec}
