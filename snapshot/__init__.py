"""Tenant configuration snapshots on Azure Functions: Graph UTCM jobs kept in Table Storage."""

import logging

# The Azure SDK logs every request's headers at INFO: thousands of lines per ingestion, in App Insights too.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
