"""Contains all the data models used in inputs/outputs"""

from .chat_completion_stream_options_type_0 import ChatCompletionStreamOptionsType0
from .completion_usage import CompletionUsage
from .completion_usage_completion_tokens_details_type_0 import (
    CompletionUsageCompletionTokensDetailsType0,
)
from .completion_usage_prompt_tokens_details_type_0 import (
    CompletionUsagePromptTokensDetailsType0,
)
from .create_completion_chunk import CreateCompletionChunk
from .create_completion_chunk_choice import CreateCompletionChunkChoice
from .create_completion_chunk_choice_finish_reason_type_0 import (
    CreateCompletionChunkChoiceFinishReasonType0,
)
from .create_completion_chunk_choice_logprobs_type_0 import (
    CreateCompletionChunkChoiceLogprobsType0,
)
from .create_completion_chunk_choice_logprobs_type_0_top_logprobs_item_type_0 import (
    CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0,
)
from .create_completion_chunk_object import CreateCompletionChunkObject
from .create_completion_request import CreateCompletionRequest
from .create_completion_request_logit_bias_type_0 import (
    CreateCompletionRequestLogitBiasType0,
)
from .create_completion_request_model_type_1 import CreateCompletionRequestModelType1
from .create_completion_response import CreateCompletionResponse
from .create_completion_response_choices_item import CreateCompletionResponseChoicesItem
from .create_completion_response_choices_item_finish_reason import (
    CreateCompletionResponseChoicesItemFinishReason,
)
from .create_completion_response_choices_item_logprobs_type_0 import (
    CreateCompletionResponseChoicesItemLogprobsType0,
)
from .create_completion_response_choices_item_logprobs_type_0_top_logprobs_item_type_0 import (
    CreateCompletionResponseChoicesItemLogprobsType0TopLogprobsItemType0,
)
from .create_completion_response_object import CreateCompletionResponseObject
from .create_completion_stream_event import CreateCompletionStreamEvent
from .error import Error
from .error_response import ErrorResponse

__all__ = (
    "ChatCompletionStreamOptionsType0",
    "CompletionUsage",
    "CompletionUsageCompletionTokensDetailsType0",
    "CompletionUsagePromptTokensDetailsType0",
    "CreateCompletionChunk",
    "CreateCompletionChunkChoice",
    "CreateCompletionChunkChoiceFinishReasonType0",
    "CreateCompletionChunkChoiceLogprobsType0",
    "CreateCompletionChunkChoiceLogprobsType0TopLogprobsItemType0",
    "CreateCompletionChunkObject",
    "CreateCompletionRequest",
    "CreateCompletionRequestLogitBiasType0",
    "CreateCompletionRequestModelType1",
    "CreateCompletionResponse",
    "CreateCompletionResponseChoicesItem",
    "CreateCompletionResponseChoicesItemFinishReason",
    "CreateCompletionResponseChoicesItemLogprobsType0",
    "CreateCompletionResponseChoicesItemLogprobsType0TopLogprobsItemType0",
    "CreateCompletionResponseObject",
    "CreateCompletionStreamEvent",
    "Error",
    "ErrorResponse",
)
