"""A store location as a URI (s3://…, gs://…, file:///…) rather than a local path, and the check that it carries no
secret."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit


def is_uri(location: str | Path) -> bool:
    return "://" in str(location)


def reject_credentials(uri: str, field: str) -> None:
    """ValueError for a URI carrying a secret (s3://KEY:SECRET@bucket/…, which pyarrow accepts): it would be saved
    in config.yaml, the W&B config and the logs. Credentials belong in the environment."""
    if urlsplit(uri).password is not None:
        raise ValueError(f"{field} must not carry credentials (user:secret@ in {urlsplit(uri).scheme}://…): they "
                         "would be saved in config.yaml, W&B and the logs; set them in the environment instead "
                         "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, …)")
