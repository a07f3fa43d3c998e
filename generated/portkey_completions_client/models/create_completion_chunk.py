from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.create_completion_chunk_object import CreateCompletionChunkObject
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.completion_usage import CompletionUsage
    from ..models.create_completion_chunk_choice import CreateCompletionChunkChoice


T = TypeVar("T", bound="CreateCompletionChunk")


@_attrs_define
class CreateCompletionChunk:
    """One streamed piece of a completion. `finish_reason` is null until the last chunk of its choice. The usage chunk
    (stream_options.include_usage) has empty `choices`; the other chunks then carry `usage: null`.

        Attributes:
            id (str):
            object_ (CreateCompletionChunkObject):
            created (int):
            model (str):
            choices (list[CreateCompletionChunkChoice]):
            system_fingerprint (str | Unset):
            usage (CompletionUsage | None | Unset): Set on the usage chunk only; null on the others.
    """

    id: str
    object_: CreateCompletionChunkObject
    created: int
    model: str
    choices: list[CreateCompletionChunkChoice]
    system_fingerprint: str | Unset = UNSET
    usage: CompletionUsage | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.completion_usage import CompletionUsage  # noqa: PLC0415

        id = self.id

        object_ = self.object_.value

        created = self.created

        model = self.model

        choices = []
        for choices_item_data in self.choices:
            choices_item = choices_item_data.to_dict()
            choices.append(choices_item)

        system_fingerprint = self.system_fingerprint

        usage: dict[str, Any] | None | Unset
        if isinstance(self.usage, Unset):
            usage = UNSET
        elif isinstance(self.usage, CompletionUsage):
            usage = self.usage.to_dict()
        else:
            usage = self.usage

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "object": object_,
                "created": created,
                "model": model,
                "choices": choices,
            }
        )
        if system_fingerprint is not UNSET:
            field_dict["system_fingerprint"] = system_fingerprint
        if usage is not UNSET:
            field_dict["usage"] = usage

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.completion_usage import CompletionUsage  # noqa: PLC0415
        from ..models.create_completion_chunk_choice import CreateCompletionChunkChoice  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        object_ = CreateCompletionChunkObject(d.pop("object"))

        created = d.pop("created")

        model = d.pop("model")

        choices = []
        _choices = d.pop("choices")
        for choices_item_data in _choices:
            choices_item = CreateCompletionChunkChoice.from_dict(choices_item_data)

            choices.append(choices_item)

        system_fingerprint = d.pop("system_fingerprint", UNSET)

        def _parse_usage(data: object) -> CompletionUsage | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                usage_type_0 = CompletionUsage.from_dict(data)

                return usage_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CompletionUsage | None | Unset, data)

        usage = _parse_usage(d.pop("usage", UNSET))

        create_completion_chunk = cls(
            id=id,
            object_=object_,
            created=created,
            model=model,
            choices=choices,
            system_fingerprint=system_fingerprint,
            usage=usage,
        )

        create_completion_chunk.additional_properties = d
        return create_completion_chunk

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
