"""Tenant configuration snapshots on Azure Functions: Graph UTCM jobs kept in Table Storage."""
