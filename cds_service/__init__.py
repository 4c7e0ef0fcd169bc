"""CDS Hooks 2.0 service for vertebral augmentation, with its own CQL engine."""

__version__ = "0.1.0"

# Before anything imports the CQL engine: use its compiled build when one matches the source (cds_service.accel).
from cds_service import accel as _accel  # noqa: E402

_accel.install()
