"""Request bodies.  Unknown fields are refused (a misspelt `top_k` would be silently
ignored otherwise); every bound is stated."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchFilters(Strict):
    document_types: list[str] = Field(default_factory=list, max_length=50)
    tags: list[str] = Field(default_factory=list, max_length=50)


class SearchRequest(Strict):
    query: str = Field(min_length=1, max_length=2000)
    mode: Literal["hybrid", "vector", "fulltext"] = "hybrid"
    filters: SearchFilters = Field(default_factory=SearchFilters)
    top_k: int = Field(default=10, ge=1, le=100)


class AskRequest(Strict):
    question: str = Field(min_length=1)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    top_k: int | None = Field(default=None, ge=1, le=50)
    stream: bool = False


class DocumentEdit(Strict):
    title: str | None = Field(default=None, max_length=300)
    document_type: str | None = Field(default=None, max_length=100)
    tags: list[str] | None = Field(default=None, max_length=50)


class Feedback(Strict):
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class ChatMessage(BaseModel):
    # OpenAI's clients send fields of their own (name, tool calls): kept, not used.
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, object]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, …: not used
    model: str = "local-documents"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
