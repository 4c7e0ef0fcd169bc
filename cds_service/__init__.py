"""CDS Hooks 2.0 service for vertebral augmentation, with its own CQL engine."""

__version__ = "0.1.0"
