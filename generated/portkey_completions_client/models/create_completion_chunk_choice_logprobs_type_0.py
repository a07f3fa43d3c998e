from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_completion_chunk_choice_logprobs_type_0_top_logprobs_item_type_0 import (
        CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0,
    )


T = TypeVar("T", bound="CreateCompletionChunkChoiceLogprobsType0")


@_attrs_define
class CreateCompletionChunkChoiceLogprobsType0:
    """
    Attributes:
        text_offset (list[int] | Unset):
        token_logprobs (list[float | None] | Unset):
        tokens (list[str] | Unset):
        top_logprobs (list[CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0 | None] | Unset):
    """

    text_offset: list[int] | Unset = UNSET
    token_logprobs: list[float | None] | Unset = UNSET
    tokens: list[str] | Unset = UNSET
    top_logprobs: (
        list[CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0 | None]
        | Unset
    ) = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.create_completion_chunk_choice_logprobs_type_0_top_logprobs_item_type_0 import (
            CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0,  # noqa: PLC0415
        )

        text_offset: list[int] | Unset = UNSET
        if not isinstance(self.text_offset, Unset):
            text_offset = self.text_offset

        token_logprobs: list[float | None] | Unset = UNSET
        if not isinstance(self.token_logprobs, Unset):
            token_logprobs = []
            for token_logprobs_item_data in self.token_logprobs:
                token_logprobs_item: float | None
                token_logprobs_item = token_logprobs_item_data
                token_logprobs.append(token_logprobs_item)

        tokens: list[str] | Unset = UNSET
        if not isinstance(self.tokens, Unset):
            tokens = self.tokens

        top_logprobs: list[dict[str, Any] | None] | Unset = UNSET
        if not isinstance(self.top_logprobs, Unset):
            top_logprobs = []
            for top_logprobs_item_data in self.top_logprobs:
                top_logprobs_item: dict[str, Any] | None
                if isinstance(
                    top_logprobs_item_data,
                    CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0,
                ):
                    top_logprobs_item = top_logprobs_item_data.to_dict()
                else:
                    top_logprobs_item = top_logprobs_item_data
                top_logprobs.append(top_logprobs_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if text_offset is not UNSET:
            field_dict["text_offset"] = text_offset
        if token_logprobs is not UNSET:
            field_dict["token_logprobs"] = token_logprobs
        if tokens is not UNSET:
            field_dict["tokens"] = tokens
        if top_logprobs is not UNSET:
            field_dict["top_logprobs"] = top_logprobs

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_completion_chunk_choice_logprobs_type_0_top_logprobs_item_type_0 import (
            CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0,  # noqa: PLC0415
        )

        d = dict(src_dict)
        text_offset = cast(list[int], d.pop("text_offset", UNSET))

        _token_logprobs = d.pop("token_logprobs", UNSET)
        token_logprobs: list[float | None] | Unset = UNSET
        if _token_logprobs is not UNSET:
            token_logprobs = []
            for token_logprobs_item_data in _token_logprobs:

                def _parse_token_logprobs_item(data: object) -> float | None:
                    if data is None:
                        return data
                    return cast(float | None, data)

                token_logprobs_item = _parse_token_logprobs_item(
                    token_logprobs_item_data
                )

                token_logprobs.append(token_logprobs_item)

        tokens = cast(list[str], d.pop("tokens", UNSET))

        _top_logprobs = d.pop("top_logprobs", UNSET)
        top_logprobs: (
            list[CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0 | None]
            | Unset
        ) = UNSET
        if _top_logprobs is not UNSET:
            top_logprobs = []
            for top_logprobs_item_data in _top_logprobs:

                def _parse_top_logprobs_item(
                    data: object,
                ) -> (
                    CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0 | None
                ):
                    if data is None:
                        return data
                    try:
                        if not isinstance(data, dict):
                            raise TypeError()
                        top_logprobs_item_type_0 = CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0.from_dict(
                            data
                        )

                        return top_logprobs_item_type_0
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    return cast(
                        CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0
                        | None,
                        data,
                    )

                top_logprobs_item = _parse_top_logprobs_item(top_logprobs_item_data)

                top_logprobs.append(top_logprobs_item)

        create_completion_chunk_choice_logprobs_type_0 = cls(
            text_offset=text_offset,
            token_logprobs=token_logprobs,
            tokens=tokens,
            top_logprobs=top_logprobs,
        )

        create_completion_chunk_choice_logprobs_type_0.additional_properties = d
        return create_completion_chunk_choice_logprobs_type_0

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
