"""Domain layer: the vertebral augmentation services (service.py), CQL libraries (cql/) and clinical logic."""

from cds_service.services.vertebral.service import SELECT_ID, SERVICES, SIGN_ID

__all__ = ["SELECT_ID", "SERVICES", "SIGN_ID"]
