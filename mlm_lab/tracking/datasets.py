"""What a run saw, as MLflow datasets (`mlflow.log_input`): found by digest, shown in the UI's Dataset column.

A task describes its data as plain dicts (`Task.datasets()`): name, digest, source (a path, a URL, or the settings of
a generator), context (training, validation, test, heldout) and a profile. Here they become MLflow entities.
"""

import json

from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

DIGEST_CHARS = 32  # MLflow stores at most 36 characters of a digest: the first 32 hex digits of the sha256


class DataSource(DatasetSource):
    """A file, a URL or a generator's settings: `uri` and what else says where the data came from."""

    def __init__(self, uri: str, settings: dict | None = None):
        self.uri, self.settings = uri, settings or {}

    @staticmethod
    def _get_source_type() -> str:
        return "mlm_lab"

    def load(self, **kwargs):
        raise NotImplementedError("mlm_lab datasets are read by their task; the source only says where the data came from")

    @staticmethod
    def _can_resolve(raw_source) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source):
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"uri": self.uri, **({"settings": self.settings} if self.settings else {})}

    @classmethod
    def from_dict(cls, source_dict: dict) -> "DataSource":
        return cls(source_dict["uri"], source_dict.get("settings"))


class ProfiledDataset(MetaDataset):
    """A MetaDataset with a profile (documents, bytes, tokens, the tokenizer's sha256...)."""

    def __init__(self, source: DatasetSource, name: str, digest: str, profile: dict):
        super().__init__(source, name=name, digest=digest)
        self._profile = profile

    @property
    def profile(self) -> dict:
        return self._profile

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def dataset_inputs(datasets: list[dict]) -> list[DatasetInput]:
    """MLflow's DatasetInputs of a task's `datasets()`."""
    inputs = []
    for d in datasets:
        source = DataSource(d["source"], d.get("settings"))
        entity = ProfiledDataset(source, d["name"], d["digest"][:DIGEST_CHARS], d.get("profile", {}))._to_mlflow_entity()
        inputs.append(DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, d["context"])]))
    return inputs


def describe(datasets: list[dict]) -> str:
    """One line per dataset, for the log."""
    return "; ".join(f"{d['context']}: {d['name']} {d['digest'][:12]} ({json.dumps(d.get('profile', {}))[:80]})" for d in datasets)
