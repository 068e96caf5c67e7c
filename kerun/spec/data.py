"""``data:``: where examples come from and how their fields become model inputs and targets.

A *source* yields named fields (a CSV's columns, an npz file's arrays, ``features`` and ``label`` for
scikit-learn datasets). ``inputs`` maps model inputs to fields and ``targets`` maps model outputs to
fields; by default a field feeds the input or output of the same name, a single-input model takes
every field that is not the label, and a single-output model takes the label.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from kerun.spec.base import NonNegInt, PosInt, SpecModel

__all__ = [
    "CsvSourceSpec",
    "DataSpec",
    "FieldSpec",
    "ImagesSourceSpec",
    "KerasSourceSpec",
    "MasksSpec",
    "NpzSourceSpec",
    "ParquetSourceSpec",
    "SklearnSourceSpec",
    "SOURCE_TYPES",
    "SplitSpec",
    "SyntheticFieldSpec",
    "SyntheticSourceSpec",
    "TextSourceSpec",
    "WindowsSpec",
]

Dtype = Literal["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "string"]
Shape = list[Annotated[int, Field(gt=0)]]

SKLEARN_DATASETS = ("iris", "digits", "breast_cancer", "wine", "diabetes", "linnerud")
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing", "california_housing")


PerColumn = Union[float, Annotated[list[float], Field(min_length=1)], Annotated[dict[str, float], Field(min_length=1)]]
"""``scale``/``offset``: one number for every value, a list (one per column, the last axis), or column -> number."""


class FieldSpec(SpecModel):
    """How one field (or a group of columns) becomes one model input or target."""

    field: str | None = Field(None, description="the source field; by default the input or output name")
    columns: str | list[str] | None = Field(None, description="columns to stack into one array; a glob like 'pixel*' or a list")
    reshape: list[Annotated[int, Field(ge=-1)]] | None = Field(None, description="shape of one example, batch dimension left out")
    scale: PerColumn | None = Field(None, description="multiply by this after the offset: one number, one per column (a list), or column -> number")
    offset: PerColumn | None = Field(None, description="add this before scaling: one number, one per column (a list), or column -> number")
    dtype: Dtype | None = None
    encoding: Literal["sparse", "one_hot"] | None = Field(None, description="for class labels: integer ids or one-hot rows")
    classes: PosInt | None = Field(None, description="number of classes for one_hot; by default the output's width")

    @field_validator("scale", "offset")
    @classmethod
    def _one_per_column(cls, value: Any, info: ValidationInfo) -> Any:
        """A list of numbers needs one per column when the columns are listed by name."""
        columns = info.data.get("columns")
        if isinstance(value, list) and isinstance(columns, list) and not any(ch in c for c in columns for ch in "*?["):
            if len(value) != len(columns):
                raise ValueError(f"{info.field_name} lists {len(value)} numbers for {len(columns)} columns: give one per column "
                                 f"(in the order of 'columns'), one number for all, or a mapping column -> number")
        if isinstance(value, dict) and isinstance(columns, list) and not any(ch in c for c in columns for ch in "*?["):
            unknown = [k for k in value if k not in columns]
            if unknown:
                raise ValueError(f"{info.field_name} names {unknown[0]!r}, which is not one of the columns {columns}")
        return value


FIELD_SPEC_KEYS = frozenset(FieldSpec.model_fields)


class _SourceBase(SpecModel):
    label: str | None = Field(None, description="the field that holds the label (targets of a single-output model)")
    limit: PosInt | None = Field(None, description="read at most this many examples")


class CsvSourceSpec(_SourceBase):
    type: Literal["csv"]
    path: str
    columns: list[str] | None = Field(None, description="columns to read; all by default")
    delimiter: str = Field(",", min_length=1, max_length=1, pattern=r'^[^\r\n"]$',
                           description="the one character between fields, e.g. ';' or a tab")
    header: bool = Field(True, description="the first row names the columns; false: every row is data")
    names: list[str] | None = Field(None, min_length=1, description="with header: false, the column names; by default numbered from 0 ('0', '1', ...)")
    stream: bool | None = Field(None, description="read in chunks with bounded memory; by default when the file is larger than 256 MiB")

    @model_validator(mode="before")
    @classmethod
    def _numbered_columns(cls, value: Any) -> Any:
        """Without a header the columns are numbered, so ``label: 0`` and ``columns: [1, 2]`` name them."""
        if isinstance(value, dict) and value.get("header") is False and not value.get("names"):
            value = dict(value)
            if isinstance(value.get("label"), int) and not isinstance(value.get("label"), bool):
                value["label"] = str(value["label"])
            if isinstance(value.get("columns"), list):
                value["columns"] = [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in value["columns"]]
        return value

    @model_validator(mode="after")
    def _names_need_no_header(self) -> "CsvSourceSpec":
        if self.names is not None:
            if self.header:
                raise ValueError("'names' gives the columns of a file without a header row: add header: false, or remove names")
            if len(set(self.names)) != len(self.names):
                dup = next(n for n in self.names if self.names.count(n) > 1)
                raise ValueError(f"'names' lists {dup!r} twice: every column needs its own name")
        return self


class ParquetSourceSpec(_SourceBase):
    type: Literal["parquet"]
    path: str
    columns: list[str] | None = None
    stream: bool | None = Field(None, description="read in row batches with bounded memory; by default when the file is larger than 256 MiB")


class NpzSourceSpec(_SourceBase):
    type: Literal["npz"]
    path: str
    arrays: list[str] | None = Field(None, description="arrays to read; all by default")


class MasksSpec(SpecModel):
    path: str = Field(description="a folder of masks: one image per image of the source, matched by file name stem")
    field: str = Field("mask", description="the name of the mask field (the label: one integer class per pixel)")


class ImagesSourceSpec(_SourceBase):
    type: Literal["images"]
    path: str = Field(description="a folder with one sub-folder per class; with masks: a folder of images")
    masks: MasksSpec | None = Field(None, description="segmentation: a folder of masks paired with the images by file name stem")
    image_size: Annotated[list[PosInt], Field(min_length=2, max_length=2)] = [64, 64]
    color_mode: Literal["rgb", "grayscale", "rgba"] = "rgb"
    field: str = Field("image", description="the name of the image field")


class TextSourceSpec(_SourceBase):
    type: Literal["text"]
    path: str = Field(description="a folder with one sub-folder per class of .txt files, or a CSV file")
    column: str | None = Field(None, description="with a CSV file: the column holding the text")
    field: str = Field("text", description="the name of the text field")


class SklearnSourceSpec(_SourceBase):
    type: Literal["sklearn"]
    name: Literal[SKLEARN_DATASETS]  # type: ignore[valid-type]


class KerasSourceSpec(_SourceBase):
    type: Literal["keras"]
    name: Literal[KERAS_DATASETS]  # type: ignore[valid-type]
    part: Literal["train", "test"] = "train"


class SyntheticFieldSpec(SpecModel):
    shape: Shape = Field(default_factory=list)
    dtype: Dtype | None = None
    classes: PosInt | None = Field(None, description="integer class ids in [0, classes)")
    min: float | None = None
    max: float | None = None
    distribution: Literal["uniform", "normal"] = "uniform"


class SyntheticSourceSpec(_SourceBase):
    type: Literal["synthetic"]
    size: PosInt
    fields: dict[str, SyntheticFieldSpec] = Field(min_length=1)
    seed: int | None = Field(None, description="by default the spec's seed")


class WindowsSpec(SpecModel):
    """Windows of consecutive rows, as ``keras.utils.timeseries_dataset_from_array`` makes them."""

    sequence_length: PosInt = Field(description="steps in one window")
    sequence_stride: PosInt = Field(1, description="rows between the starts of two windows")
    sampling_rate: PosInt = Field(1, description="rows between two steps of a window")
    columns: Annotated[list[str], Field(min_length=1)] | None = Field(None, description="the columns (or arrays) of each step; all by default")
    target: str | Annotated[list[str], Field(min_length=1)] | None = Field(None, description="the column(s) whose value is the target")
    target_offset: NonNegInt = Field(1, description="the target's row: this many rows after the window's last row (0: the last row)")
    field: str = Field("window", description="the name of the window field; the target's field is 'target'")


class SplitSpec(SpecModel):
    split: Annotated[float, Field(gt=0, lt=1)] = Field(description="fraction of train held out, seeded")


SOURCE_TYPES = ("csv", "parquet", "npz", "images", "text", "sklearn", "keras", "synthetic")


def _source_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if "type" in value:
            return value["type"] if isinstance(value["type"], str) else None
        if "split" in value:
            return "split"
        return None
    return getattr(value, "type", None) or ("split" if isinstance(value, SplitSpec) else None)


_SOURCE_CLASSES = (
    (CsvSourceSpec, "csv"),
    (ParquetSourceSpec, "parquet"),
    (NpzSourceSpec, "npz"),
    (ImagesSourceSpec, "images"),
    (TextSourceSpec, "text"),
    (SklearnSourceSpec, "sklearn"),
    (KerasSourceSpec, "keras"),
    (SyntheticSourceSpec, "synthetic"),
)


def _tagged_union(members: tuple[tuple[type, str], ...]) -> Any:
    return Annotated[
        Union[tuple(Annotated[cls, Tag(tag)] for cls, tag in members)],  # type: ignore[misc]
        Discriminator(_source_tag, custom_error_type="source_type", custom_error_message="unknown source type"),
    ]


Source = _tagged_union(_SOURCE_CLASSES)
HeldOut = _tagged_union(((SplitSpec, "split"), *_SOURCE_CLASSES))  # a fraction of train, or a source

FieldRef = Union[str, FieldSpec]


class DataSpec(SpecModel):
    train: Source
    validation: HeldOut | None = None
    test: HeldOut | None = None
    inputs: dict[str, FieldRef] = Field(default_factory=dict, description="model input name -> field")
    targets: dict[str, FieldRef] = Field(default_factory=dict, description="model output name -> field")
    shuffle_buffer: PosInt | None = Field(None, description="examples in the shuffle buffer: in memory the whole split by default; a streamed CSV is shuffled within blocks of about 4 MiB by default, and this adds an example-level buffer; streamed Parquet uses 10,000")
    cache: bool | None = Field(None, description="cache decoded examples in memory; on when the data fits")
    windows: WindowsSpec | None = Field(None, description="time series: windows of consecutive rows; hold-out splits are taken by time")

    @model_validator(mode="before")
    @classmethod
    def _single_target_shorthand(cls, value: Any) -> Any:
        """``targets: {encoding: one_hot}`` describes the single output's field itself."""
        if isinstance(value, dict):
            targets = value.get("targets")
            if isinstance(targets, dict) and targets and set(targets) <= FIELD_SPEC_KEYS:
                value = {**value, "targets": {"*": targets}}
        return value
