#!/usr/bin/env python3
"""Print an OAuth2 access token for the IAM REST calls of the gce_instances role.

Credentials come from the environment only, as for the google.cloud modules:
GCP_SERVICE_ACCOUNT_FILE (a key file) or application default credentials
(GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, metadata server).
"""

import os
import sys

import google.auth
import google.auth.transport.requests
from google.oauth2 import service_account

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def main() -> int:
    key_file = os.environ.get("GCP_SERVICE_ACCOUNT_FILE")
    if key_file:
        credentials = service_account.Credentials.from_service_account_file(key_file, scopes=SCOPES)
    else:
        credentials, _ = google.auth.default(scopes=SCOPES)
    credentials.refresh(google.auth.transport.requests.Request())
    sys.stdout.write(credentials.token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
